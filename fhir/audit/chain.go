package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Extension URLs of the hash chain.
const (
	// ExtensionChain carries a record's place in its chain, as the
	// sub-extensions chain, prev (absent for seq 1), seq and hash.
	ExtensionChain = "http://custos.example/fhir/StructureDefinition/audit-chain"
	// ExtensionRetention, on a retention checkpoint, states for one chain
	// the first seq kept (firstSeq) and that record's prev hash (prev).
	ExtensionRetention = "http://custos.example/fhir/StructureDefinition/audit-retention"
)

// The hash of a record is the SHA-256 of its canonical JSON without the
// hash sub-extension. Build writes that sub-extension right after the seq
// sub-extension, so the body without it is the body with hashElement cut
// out. encoding/json escapes every quote inside a string value, so these
// markers cannot occur inside user-supplied text.
const (
	seqMarker  = `{"url":"seq","valueDecimal":`
	hashPrefix = `,{"url":"hash","valueString":"`
)

// ChainHead is the last record of a chain: what an operator keeps outside
// the store (for example in the server log) so that Verify can detect a
// chain cut short.
type ChainHead struct {
	Chain string
	Seq   uint64
	Hash  string
}

func recordID(chain string, seq uint64) string {
	return chain + "-" + strconv.FormatUint(seq, 10)
}

// parseRecordID splits an id that recordID made.
func parseRecordID(id string) (chain string, seq uint64, ok bool) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(id[i+1:], 10, 64)
	if err != nil || seq == 0 {
		return "", 0, false
	}
	return id[:i], seq, true
}

// finish adds the chain extension to a, encodes it and returns the body
// with its hash in place, and the hash.
func finish(a *auditJSON, link ChainLink) ([]byte, string) {
	sub := []extensionJSON{{URL: "chain", ValueString: link.Chain}}
	if link.Prev != "" {
		sub = append(sub, extensionJSON{URL: "prev", ValueString: link.Prev})
	}
	sub = append(sub, extensionJSON{URL: "seq",
		ValueDecimal: json.Number(strconv.FormatUint(link.Seq, 10))})
	a.Extension = append(a.Extension, extensionJSON{URL: ExtensionChain, Extension: sub})

	pre := encode(a)
	sum := sha256.Sum256(pre)
	hash := hex.EncodeToString(sum[:])

	at := bytes.Index(pre, []byte(seqMarker))
	end := at + bytes.IndexByte(pre[at:], '}') + 1
	body := make([]byte, 0, len(pre)+len(hashPrefix)+len(hash)+2)
	body = append(body, pre[:end]...)
	body = append(body, hashPrefix...)
	body = append(body, hash...)
	body = append(body, `"}`...)
	body = append(body, pre[end:]...)
	return body, hash
}

// chainInfo contains the chain fields of one record.
type chainInfo struct {
	Link      ChainLink
	Hash      string // as stated in the record
	Actual    string // recomputed from the body
	Subtype   string // code of the first subtype
	Retention []retentionEntry
}

type retentionEntry struct {
	Chain    string
	FirstSeq uint64
	Prev     string
}

// errNoChain means a record has no chain extension: it was not written by
// a Recorder, for example an AuditEvent a client created.
var errNoChain = errors.New("no chain extension")

// readChain reads the chain extension of a stored body and recomputes its
// hash.
func readChain(body []byte) (chainInfo, error) {
	var doc struct {
		Extension []extensionJSON `json:"extension"`
		Meta      metaJSON        `json:"meta"`
		Subtype   []codingJSON    `json:"subtype"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return chainInfo{}, fmt.Errorf("invalid JSON: %w", err)
	}
	var info chainInfo
	found := false
	for _, ext := range doc.Extension {
		switch ext.URL {
		case ExtensionChain:
			if found {
				return chainInfo{}, errors.New("two chain extensions")
			}
			found = true
			if err := readLink(ext.Extension, &info); err != nil {
				return chainInfo{}, err
			}
		case ExtensionRetention:
			entry, err := readRetention(ext.Extension)
			if err != nil {
				return chainInfo{}, err
			}
			info.Retention = append(info.Retention, entry)
		}
	}
	if !found {
		return chainInfo{}, errNoChain
	}
	if len(doc.Subtype) > 0 {
		info.Subtype = doc.Subtype[0].Code
	}

	element := []byte(hashPrefix + info.Hash + `"}`)
	if bytes.Count(body, element) != 1 {
		return chainInfo{}, errors.New("hash element is not where the chain puts it")
	}
	sum := sha256.Sum256(bytes.Replace(body, element, nil, 1))
	info.Actual = hex.EncodeToString(sum[:])
	return info, nil
}

func readLink(sub []extensionJSON, info *chainInfo) error {
	for _, e := range sub {
		switch e.URL {
		case "chain":
			info.Link.Chain = e.ValueString
		case "prev":
			info.Link.Prev = e.ValueString
		case "hash":
			info.Hash = e.ValueString
		case "seq":
			seq, err := strconv.ParseUint(string(e.ValueDecimal), 10, 64)
			if err != nil {
				return fmt.Errorf("invalid seq %q", e.ValueDecimal)
			}
			info.Link.Seq = seq
		}
	}
	if info.Link.Chain == "" || info.Link.Seq == 0 || info.Hash == "" {
		return errors.New("chain extension lacks chain, seq or hash")
	}
	return nil
}

func readRetention(sub []extensionJSON) (retentionEntry, error) {
	var r retentionEntry
	for _, e := range sub {
		switch e.URL {
		case "chain":
			r.Chain = e.ValueString
		case "prev":
			r.Prev = e.ValueString
		case "firstSeq":
			seq, err := strconv.ParseUint(string(e.ValueDecimal), 10, 64)
			if err != nil {
				return r, fmt.Errorf("invalid firstSeq %q", e.ValueDecimal)
			}
			r.FirstSeq = seq
		}
	}
	if r.Chain == "" || r.FirstSeq == 0 {
		return r, errors.New("retention extension lacks chain or firstSeq")
	}
	return r, nil
}

func retentionExtension(r retentionEntry) extensionJSON {
	sub := []extensionJSON{{URL: "chain", ValueString: r.Chain},
		{URL: "firstSeq", ValueDecimal: json.Number(strconv.FormatUint(r.FirstSeq, 10))}}
	if r.Prev != "" {
		sub = append(sub, extensionJSON{URL: "prev", ValueString: r.Prev})
	}
	return extensionJSON{URL: ExtensionRetention, Extension: sub}
}
