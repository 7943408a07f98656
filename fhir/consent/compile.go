package consent

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// effect is the outcome a provision or base policy leads to.
type effect int8

const (
	effectNone effect = iota
	effectPermit
	effectDeny
)

func (e effect) String() string {
	switch e {
	case effectPermit:
		return "permit"
	case effectDeny:
		return "deny"
	}
	return "none"
}

func (e effect) opposite() effect {
	if e == effectPermit {
		return effectDeny
	}
	return effectPermit
}

func effectOf(p DefaultPolicy) effect {
	if p == OptOut {
		return effectPermit
	}
	return effectDeny
}

type actorRule struct {
	reference string
	roles     []Coding
}

type dataRule struct {
	meaning   string
	reference string
}

// provision is one parsed Consent.provision element.
type provision struct {
	path string
	typ  effect // effectNone where the type is not stated

	period     period
	actors     []actorRule
	actions    []Coding
	purposes   []Coding
	classes    []Coding
	codes      []Coding
	labels     []Coding
	dataPeriod period
	data       []dataRule

	children []*provision

	// unreadable is set when a condition is present but holds no coding
	// or reference the engine can compare, so that whether it matches is
	// unknown.
	unreadable bool

	// conditions names the elements that constrain this provision, in
	// plain words for Decision.Reason.
	conditions string
}

// parsedConsent is a Consent that is active and of scope patient-privacy.
type parsedConsent struct {
	id      string
	patient string // normalised reference, "Patient/123"

	hasDateTime bool
	dateTime    time.Time // start of Consent.dateTime at its precision

	base     effect // effectNone where policyRule is missing or unknown
	baseCode string // the policyRule code, for Reason
	root     *provision
}

// skippedConsent is a Consent that does not count, and why.
type skippedConsent struct {
	id     string
	reason string
}

// consentSet is the parsed form of one patient's Consents.
type consentSet struct {
	location *time.Location
	// consents are sorted newest dateTime first, then by id, so that the
	// first match of each kind is the newest.
	consents []*parsedConsent
	skipped  []skippedConsent
	// bounds are the sorted instants at which any period or Consent
	// dateTime starts or ends. Decisions cannot change between two bounds
	// unless the request does.
	bounds []time.Time
}

func compileSet(resources []map[string]any, loc *time.Location) *consentSet {
	if loc == nil {
		loc = time.UTC
	}
	set := &consentSet{location: loc}
	for _, r := range resources {
		c, reason := parseConsent(r, loc)
		if c == nil {
			set.skipped = append(set.skipped, skippedConsent{id: stringAt(r, "id"), reason: reason})
			continue
		}
		set.consents = append(set.consents, c)
		set.addBounds(c)
	}
	slices.SortStableFunc(set.consents, func(a, b *parsedConsent) int {
		if c := b.dateTime.Compare(a.dateTime); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	slices.SortFunc(set.bounds, time.Time.Compare)
	set.bounds = slices.CompactFunc(set.bounds, time.Time.Equal)
	return set
}

func (s *consentSet) addBounds(c *parsedConsent) {
	if c.hasDateTime {
		s.bounds = append(s.bounds, c.dateTime)
	}
	var walk func(p *provision)
	walk = func(p *provision) {
		if p == nil {
			return
		}
		if p.period.hasStart {
			s.bounds = append(s.bounds, p.period.start)
		}
		if p.period.hasEnd {
			s.bounds = append(s.bounds, p.period.end)
		}
		for _, child := range p.children {
			walk(child)
		}
	}
	walk(c.root)
}

// parseConsent returns the parsed Consent, or nil and the reason it does
// not count.
func parseConsent(r map[string]any, loc *time.Location) (*parsedConsent, string) {
	if stringAt(r, "resourceType") != "Consent" {
		return nil, "not a Consent resource"
	}
	if status := stringAt(r, "status"); status != "active" {
		if status == "" {
			return nil, "status is missing"
		}
		return nil, "status is " + status + ", not active"
	}
	if !hasCoding(codingsOfConcept(r["scope"]), Coding{SystemConsentScope, "patient-privacy"}) {
		return nil, "scope is not patient-privacy"
	}

	c := &parsedConsent{id: stringAt(r, "id")}
	if p, ok := r["patient"].(map[string]any); ok {
		c.patient = normalizeReference(stringAt(p, "reference"))
	}
	if c.patient == "" {
		return nil, "patient reference is missing"
	}
	if s, ok := r["dateTime"].(string); ok {
		// NOTE: an unparseable dateTime counts the Consent as if it were
		// dated in the past, so that its provisions, denials included,
		// still apply.
		if tr, err := parseFHIRTime(s, loc); err == nil {
			c.hasDateTime, c.dateTime = true, tr.start
		}
	}
	c.base, c.baseCode = basePolicy(r["policyRule"])
	if p, ok := r["provision"].(map[string]any); ok {
		c.root = parseProvision(p, "provision", loc)
	}
	return c, ""
}

// basePolicy reads Consent.policyRule. OPTIN and OPTINR (opt-in with
// restrictions) deny what no provision permits; OPTOUT and OPTOUTE
// (opt-out with exceptions) permit what no provision denies.
func basePolicy(v any) (effect, string) {
	for _, c := range codingsOfConcept(v) {
		if c.System != "" && c.System != SystemActCode {
			continue
		}
		switch c.Code {
		case "OPTIN", "OPTINR":
			return effectDeny, c.Code
		case "OPTOUT", "OPTOUTE":
			return effectPermit, c.Code
		}
	}
	return effectNone, ""
}

func parseProvision(m map[string]any, path string, loc *time.Location) *provision {
	p := &provision{path: path}
	switch t := stringAt(m, "type"); t {
	case "permit":
		p.typ = effectPermit
	case "deny":
		p.typ = effectDeny
	case "":
	default:
		// An unknown type is read as deny, the safer of the two.
		p.typ = effectDeny
	}

	var conditions []string
	if v, ok := m["period"]; ok {
		p.period = parsePeriod(v, loc)
		conditions = append(conditions, "period")
	}
	for _, a := range listAt(m, "actor") {
		am, _ := a.(map[string]any)
		rule := actorRule{roles: codingsOfConcept(am["role"])}
		if ref, ok := am["reference"].(map[string]any); ok {
			rule.reference = normalizeReference(stringAt(ref, "reference"))
		}
		if rule.reference == "" && len(rule.roles) == 0 {
			p.unreadable = true
		}
		p.actors = append(p.actors, rule)
	}
	if len(p.actors) > 0 {
		conditions = append(conditions, "actor")
	}
	for _, a := range listAt(m, "action") {
		p.actions = append(p.actions, codingsOfConcept(a)...)
	}
	if listAt(m, "action") != nil {
		conditions = append(conditions, "action")
	}
	p.purposes = codingList(listAt(m, "purpose"))
	p.classes = codingList(listAt(m, "class"))
	p.labels = codingList(listAt(m, "securityLabel"))
	for _, c := range listAt(m, "code") {
		p.codes = append(p.codes, codingsOfConcept(c)...)
	}
	for _, element := range []struct {
		key, words string
		parsed     []Coding
	}{
		{"action", "", p.actions},
		{"purpose", "purpose", p.purposes},
		{"class", "class", p.classes},
		{"code", "code", p.codes},
		{"securityLabel", "security label", p.labels},
	} {
		if listAt(m, element.key) == nil {
			continue
		}
		if element.words != "" {
			conditions = append(conditions, element.words)
		}
		if len(element.parsed) == 0 {
			p.unreadable = true
		}
	}
	if v, ok := m["dataPeriod"]; ok {
		p.dataPeriod = parsePeriod(v, loc)
		conditions = append(conditions, "data period")
	}
	for _, d := range listAt(m, "data") {
		dm, _ := d.(map[string]any)
		rule := dataRule{meaning: stringAt(dm, "meaning")}
		if ref, ok := dm["reference"].(map[string]any); ok {
			rule.reference = normalizeReference(stringAt(ref, "reference"))
		}
		if rule.reference == "" {
			p.unreadable = true
		}
		p.data = append(p.data, rule)
	}
	if len(p.data) > 0 {
		conditions = append(conditions, "data")
	}
	p.conditions = strings.Join(conditions, ", ")

	for i, child := range listAt(m, "provision") {
		if cm, ok := child.(map[string]any); ok {
			childPath := path + ".provision[" + strconv.Itoa(i) + "]"
			p.children = append(p.children, parseProvision(cm, childPath, loc))
		}
	}
	return p
}

// normalizeReference reduces a literal reference to "Type/id": it drops a
// "/_history/..." suffix and any base URL. Other forms, such as
// "urn:uuid:..." or "#contained", are returned unchanged.
func normalizeReference(ref string) string {
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	if strings.HasPrefix(ref, "urn:") || strings.HasPrefix(ref, "#") {
		return ref
	}
	last := strings.LastIndexByte(ref, '/')
	if last <= 0 {
		return ref
	}
	prev := strings.LastIndexByte(ref[:last], '/')
	return ref[prev+1:]
}

func stringAt(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func listAt(m map[string]any, key string) []any {
	l, _ := m[key].([]any)
	return l
}

func codingOf(v any) (Coding, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return Coding{}, false
	}
	c := Coding{System: stringAt(m, "system"), Code: stringAt(m, "code")}
	return c, c.Code != ""
}

func codingList(l []any) []Coding {
	var out []Coding
	for _, v := range l {
		if c, ok := codingOf(v); ok {
			out = append(out, c)
		}
	}
	return out
}

// codingsOfConcept returns the codings of a CodeableConcept.
func codingsOfConcept(v any) []Coding {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	return codingList(listAt(m, "coding"))
}
