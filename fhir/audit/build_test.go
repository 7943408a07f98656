package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/custos/custos/fhir/model"
)

var testServer = ServerInfo{Name: "custos-test", BaseURL: "http://127.0.0.1:8080/fhir",
	Site: "Test Clinic"}

var testTime = time.Date(2026, 3, 4, 5, 6, 7, 891_000_000, time.UTC)

func testLink(seq uint64, prev string) ChainLink {
	return ChainLink{Chain: "0123456789abcdef0123456789abcdef", Seq: seq, Prev: prev,
		Stored: testTime.Add(time.Second)}
}

// buildCases covers every interaction kind and optional element.
var buildCases = []struct {
	name  string
	event Event
}{
	{"read by practitioner", Event{Interaction: "read", Method: "GET", Status: 200,
		Time: testTime, RequestID: "req-1",
		User: Requestor{FHIRUser: "Practitioner/7", Subject: "user-7",
			Issuer: "http://127.0.0.1:9/issuer", TokenID: "jti-1", ClientID: "app",
			Address: "127.0.0.1"},
		Purposes: []string{"TREAT"}, Patients: []string{"p1"},
		Resources: []string{"Patient/p1"}}},
	{"vread of a version", Event{Interaction: "vread", Method: "GET", Status: 200,
		Time: testTime, Patients: []string{"p1"},
		Resources: []string{"Patient/p1/_history/3"},
		User:      Requestor{Subject: "svc"}}},
	{"search with query", Event{Interaction: "search-type", Method: "GET", Status: 200,
		Time: testTime, Query: "Patient?name=Smith&birthdate=1970",
		Patients: []string{"p1", "p2"}, Resources: []string{"Patient/p1", "Patient/p2"},
		User: Requestor{FHIRUser: "Practitioner/7", ClientID: "app"}}},
	{"search system denied", Event{Interaction: "search-system", Method: "GET", Status: 403,
		Reason: "consent denied", Time: testTime, Query: "?_type=Patient",
		User: Requestor{Subject: "u"}}},
	{"history instance", Event{Interaction: "history-instance", Method: "GET",
		Status: 200, Patients: []string{"p1"}, Resources: []string{"Patient/p1"}}},
	{"history type", Event{Interaction: "history-type", Method: "GET", Status: 200}},
	{"history system failing", Event{Interaction: "history-system", Method: "GET",
		Status: 503, Reason: "store unavailable"}},
	{"create", Event{Interaction: "create", Method: "POST", Status: 201,
		Patients: []string{"p1"}, Resources: []string{"DocumentReference/d1/_history/1"}}},
	{"update", Event{Interaction: "update", Method: "PUT", Status: 200,
		Resources: []string{"Consent/c1/_history/2"}}},
	{"delete", Event{Interaction: "delete", Method: "DELETE", Status: 204,
		Resources: []string{"Patient/p9"}}},
	{"everything operation", Event{Interaction: "$everything", Method: "GET", Status: 200,
		Patients: []string{"p1"}}},
	{"export operation", Event{Interaction: "$export", Method: "GET", Status: 202,
		User: Requestor{ClientID: "bulk-client"}}},
	{"break glass", Event{Interaction: "read", Method: "GET", Status: 200,
		BreakGlass: true, Patients: []string{"p3"}, Resources: []string{"Patient/p3"},
		User: Requestor{FHIRUser: "Practitioner/9"}}},
	{"break glass with purpose", Event{Interaction: "read", Method: "GET", Status: 200,
		BreakGlass: true, Purposes: []string{SystemActReason + "|ETREAT"},
		Patients: []string{"p3"}}},
	{"html and unicode text", Event{Interaction: "read", Method: "get", Status: 404,
		Reason: "not <found> & \"gone\" \u2028 é", Resources: []string{"Patient/x"},
		User: Requestor{Subject: "  sub\xffject  "}}},
	{"empty event", Event{}},
}

func TestBuildIsCanonicalR4(t *testing.T) {
	codec, err := model.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range buildCases {
		t.Run(tc.name, func(t *testing.T) {
			body := Build(tc.event, testServer, testLink(uint64(i+1), "ab"))
			res, err := codec.Parse(body)
			if err != nil {
				t.Fatalf("not valid R4: %v\n%s", err, body)
			}
			again, err := codec.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, body) {
				t.Errorf("not canonical:\n built %s\nmarshal %s", body, again)
			}
		})
	}
}

func TestTrailRecordsAreCanonicalR4(t *testing.T) {
	codec, err := model.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	cp := trailRecord(testServer, testLink(5, "cd"), subtypeCheckpoint, "D")
	cp.Extension = append(cp.Extension,
		retentionExtension(retentionEntry{Chain: "c1", FirstSeq: 10, Prev: "ef"}))
	records := map[string]*auditJSON{
		"start":      trailRecord(testServer, testLink(1, ""), subtypeStart, "E"),
		"stop":       trailRecord(testServer, testLink(9, "aa"), subtypeStop, "E"),
		"checkpoint": cp,
	}
	for name, a := range records {
		t.Run(name, func(t *testing.T) {
			body, _ := finish(a, testLink(1, ""))
			res, err := codec.Parse(body)
			if err != nil {
				t.Fatalf("not valid R4: %v\n%s", err, body)
			}
			again, _ := codec.Marshal(res)
			if !bytes.Equal(again, body) {
				t.Errorf("not canonical:\n built %s\nmarshal %s", body, again)
			}
		})
	}
}

func TestBuildActionAndOutcome(t *testing.T) {
	cases := []struct {
		interaction string
		status      int
		action      string
		outcome     string
	}{
		{"read", 200, "R", "0"},
		{"vread", 404, "R", "4"},
		{"history-system", 500, "R", "8"},
		{"search-type", 200, "E", "0"},
		{"create", 201, "C", "0"},
		{"update", 412, "U", "4"},
		{"delete", 204, "D", "0"},
		{"$export", 503, "E", "8"},
	}
	for _, tc := range cases {
		body := Build(Event{Interaction: tc.interaction, Status: tc.status}, testServer,
			testLink(2, "ab"))
		var doc struct {
			Action  string `json:"action"`
			Outcome string `json:"outcome"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Action != tc.action {
			t.Errorf("%s: action = %q, expected %q", tc.interaction, doc.Action, tc.action)
		}
		if doc.Outcome != tc.outcome {
			t.Errorf("%s %d: outcome = %q, expected %q", tc.interaction, tc.status,
				doc.Outcome, tc.outcome)
		}
	}
}

func TestBuildQueryIsBase64(t *testing.T) {
	const query = "Patient?name=Smith&_count=10"
	body := Build(Event{Interaction: "search-type", Query: query}, testServer, testLink(2, "ab"))
	var doc struct {
		Entity []struct {
			Query string `json:"query"`
		} `json:"entity"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Entity) != 1 {
		t.Fatalf("%d entities, expected the query only", len(doc.Entity))
	}
	// "Patient?name=Smith&_count=10" encoded by hand with base64 (RFC 4648).
	if want := "UGF0aWVudD9uYW1lPVNtaXRoJl9jb3VudD0xMA=="; doc.Entity[0].Query != want {
		t.Errorf("query = %q, expected %q", doc.Entity[0].Query, want)
	}
}

func TestBuildHashCoversRecord(t *testing.T) {
	body := Build(buildCases[0].event, testServer, testLink(3, "ab"))
	info, err := readChain(body)
	if err != nil {
		t.Fatal(err)
	}
	// The hash is SHA-256 over the body with its hash element cut out.
	without := strings.Replace(string(body),
		`,{"url":"hash","valueString":"`+info.Hash+`"}`, "", 1)
	sum := sha256.Sum256([]byte(without))
	if info.Hash != hex.EncodeToString(sum[:]) {
		t.Errorf("stated hash %s is not the SHA-256 of the body without it", info.Hash)
	}
	if info.Link.Seq != 3 || info.Link.Prev != "ab" || info.Link.Chain != testLink(3, "").Chain {
		t.Errorf("link = %+v, expected seq 3 after ab", info.Link)
	}
	edited := strings.Replace(string(body), `"Patient/p1"`, `"Patient/p2"`, 1)
	info, err = readChain([]byte(edited))
	if err != nil {
		t.Fatal(err)
	}
	if info.Actual == info.Hash {
		t.Error("an edited body still matches its hash")
	}
}
