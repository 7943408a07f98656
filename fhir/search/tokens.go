package search

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/custos/custos/fhir/search/fhirpath"
)

// Bounds of what a resource posts. Longer values are still found: their
// candidates are opened and checked against the exact rule.
const (
	// maxPrefixRunes is the longest normalized string prefix posted.
	maxPrefixRunes = 24
	// maxTrigramRunes is the number of leading runes of a normalized
	// string that post trigrams for :contains. A longer string also posts
	// a "long" marker, so that every :contains search considers it.
	maxTrigramRunes = 256
	// maxURISegments is how many path prefixes a uri posts for :below.
	maxURISegments = 16
)

// Token kinds. Each is one byte between the parameter code and the value,
// so tokens of different kinds never collide.
const (
	kindPresent      = 'm' // the parameter has a value, for :missing
	kindCode         = 'c' // token: code alone
	kindSystemCode   = 's' // token: system|code
	kindSystemOnly   = 'S' // token: system|
	kindNoSystem     = 'n' // token: |code, a code without a system
	kindOfType       = 'y' // token: type-system|type-code|value, :of-type
	kindTextWord     = 'w' // token :text: a prefix of a display word
	kindPrefix       = 'p' // string: a prefix of the normalized value
	kindExact        = 'x' // string :exact, uri: the value as written
	kindTrigram      = 'g' // string :contains: three normalized runes
	kindLong         = 'L' // string :contains: value longer than trigrams cover
	kindRefLocal     = 'r' // reference: Type/id
	kindRefID        = 'i' // reference: id alone
	kindRefURL       = 'u' // reference: an absolute URL
	kindRefIdent     = 'I' // reference :identifier: system|value
	kindRefIdentCode = 'J' // reference :identifier: value alone
	kindURIBelow     = 'b' // uri :below: a path prefix of the uri
	kindDateIn       = 'd' // date: a bucket that a value overlaps
	kindDateCover    = 'D' // date: a bucket that a value spans whole
)

// Loader returns the current canonical JSON of a resource, already opened
// by the caller, or an error that wraps store.ErrNotFound.
type Loader interface {
	Load(ctx context.Context, typ, id string) ([]byte, error)
}

// Engine indexes resources into blind-index tokens and runs searches.
// It is safe for concurrent use.
type Engine struct {
	key    []byte
	loader Loader
	reg    registry
	now    func() time.Time
	limits Limits
	// verifyExact makes the engine check even the conditions whose tokens
	// are exact, which tests use to show that the tokens are.
	verifyExact bool

	macPool sync.Pool
}

// NewEngine returns an engine whose tokens are keyed with indexKey (the
// blind-index key from the KMS) and which opens candidates through loader.
// It panics if the embedded SearchParameter definitions do not load, which
// only a broken build can cause.
func NewEngine(indexKey []byte, loader Loader) *Engine {
	reg, err := loadRegistry()
	if err != nil {
		panic(fmt.Sprintf("search: embedded SearchParameter definitions: %v", err))
	}
	e := &Engine{key: append([]byte(nil), indexKey...), loader: loader, reg: reg,
		now: time.Now, limits: DefaultLimits()}
	e.macPool.New = func() any { return hmac.New(sha256.New, e.key) }
	return e
}

// SetLimits replaces the engine's limits; zero fields keep their defaults.
// Call it before the engine is shared.
func (e *Engine) SetLimits(l Limits) {
	e.limits = l.withDefaults()
}

// token computes HMAC-SHA256(index key, code 0x00 kind 0x00 value)
// truncated to 16 bytes.
func (e *Engine) token(code string, kind byte, value string) []byte {
	mac := e.macPool.Get().(interface {
		Write([]byte) (int, error)
		Sum([]byte) []byte
		Reset()
	})
	mac.Reset()
	mac.Write([]byte(code))
	mac.Write([]byte{0, kind, 0})
	mac.Write([]byte(value))
	sum := mac.Sum(nil)
	e.macPool.Put(mac)
	return sum[:16]
}

// decode parses resource JSON with numbers kept exact and checks its type.
func decode(resourceType string, resource []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(resource))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("search: invalid resource JSON: %w", err)
	}
	if t, _ := m["resourceType"].(string); t != resourceType {
		return nil, fmt.Errorf("search: resourceType is %q, want %q", t, resourceType)
	}
	return m, nil
}

// Tokens returns every blind-index token of a resource's canonical JSON,
// deduplicated and sorted, for store.Write.Tokens.
func (e *Engine) Tokens(resourceType string, resource []byte) ([][]byte, error) {
	params, ok := e.reg[resourceType]
	if !ok {
		return nil, fmt.Errorf("search: unsupported resource type %q", resourceType)
	}
	res, err := decode(resourceType, resource)
	if err != nil {
		return nil, err
	}
	// Gather the distinct inputs first, so that each is hashed once.
	inputs := map[string]struct{}{}
	add := func(code string, kind byte, value string) {
		inputs[code+"\x00"+string(kind)+"\x00"+value] = struct{}{}
	}
	for code, p := range params {
		if p.expr == nil {
			continue
		}
		items, err := p.expr.Evaluate(res)
		if err != nil {
			return nil, fmt.Errorf("search: parameter %s: %w", code, err)
		}
		if postValues(p, items, add) {
			add(code, kindPresent, "")
		}
	}
	mac := hmac.New(sha256.New, e.key)
	out := make([][]byte, 0, len(inputs))
	sums := make([]byte, 0, 32*len(inputs))
	for in := range inputs {
		mac.Reset()
		mac.Write([]byte(in))
		sums = mac.Sum(sums)
		out = append(out, sums[len(sums)-32:len(sums)-16:len(sums)-16])
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i], out[j]) < 0 })
	return out, nil
}

type postFunc func(code string, kind byte, value string)

// postValues posts the tokens of one parameter's values and reports
// whether there was any value.
func postValues(p *Param, items []fhirpath.Item, add postFunc) bool {
	switch p.Type {
	case "token":
		vals := tokenValues(items)
		for _, v := range vals {
			postToken(p.Code, v, add)
		}
		return len(vals) > 0
	case "string":
		vals := stringValues(items)
		for _, v := range vals {
			postString(p.Code, v, add)
		}
		return len(vals) > 0
	case "date":
		vals := dateValues(itemValues(items))
		for _, r := range vals {
			in, covering := targetBucketKeys(r)
			for _, k := range in {
				add(p.Code, kindDateIn, k)
			}
			for _, k := range covering {
				add(p.Code, kindDateCover, k)
			}
		}
		return len(vals) > 0
	case "reference":
		vals := referenceValues(items)
		for _, v := range vals {
			postReference(p.Code, v, add)
		}
		return len(vals) > 0
	case "uri":
		vals := uriValues(items)
		for _, v := range vals {
			postURI(p.Code, v, add)
		}
		return len(vals) > 0
	case "number", "quantity":
		return hasNumber(items, p.Type == "quantity") // presence only, for :missing
	case "composite":
		return postComposite(p, items, add)
	}
	return false
}

func itemValues(items []fhirpath.Item) []any {
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = it.Value
	}
	return out
}

func postToken(code string, v codeValue, add postFunc) {
	if v.code != "" {
		add(code, kindCode, v.code)
		if v.hasSystem {
			add(code, kindSystemCode, v.system+"|"+v.code)
		} else {
			add(code, kindNoSystem, v.code)
		}
		for _, t := range v.types {
			add(code, kindOfType, t.system+"|"+t.code+"|"+v.code)
		}
	}
	if v.hasSystem {
		add(code, kindSystemOnly, v.system)
	}
	for _, text := range v.texts {
		for _, w := range words(normalize(text)) {
			postPrefixes(code, kindTextWord, w, add)
		}
	}
}

func postPrefixes(code string, kind byte, s string, add postFunc) {
	count := 0
	for i := range s {
		if i == 0 {
			continue
		}
		add(code, kind, s[:i])
		if count++; count == maxPrefixRunes {
			return
		}
	}
	if s != "" {
		add(code, kind, s)
	}
}

func postString(code, value string, add postFunc) {
	add(code, kindExact, value)
	norm := normalize(value)
	postPrefixes(code, kindPrefix, norm, add)
	runes := []rune(norm)
	if len(runes) > maxTrigramRunes {
		add(code, kindLong, "")
		runes = runes[:maxTrigramRunes]
	}
	for i := 0; i+3 <= len(runes); i++ {
		add(code, kindTrigram, string(runes[i:i+3]))
	}
}

// trigrams returns the distinct trigrams of a normalized string.
func trigrams(norm string) []string {
	runes := []rune(norm)
	seen := map[string]bool{}
	var out []string
	for i := 0; i+3 <= len(runes); i++ {
		g := string(runes[i : i+3])
		if !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	return out
}

func postReference(code string, v refValue, add postFunc) {
	switch {
	case v.url != "":
		add(code, kindRefURL, v.url)
	case v.id != "":
		add(code, kindRefLocal, v.typ+"/"+v.id)
		add(code, kindRefID, v.id)
	}
	for _, ident := range v.identifiers {
		if ident.code == "" {
			continue
		}
		add(code, kindRefIdentCode, ident.code)
		if ident.hasSystem {
			add(code, kindRefIdent, ident.system+"|"+ident.code)
		}
	}
}

func postURI(code, uri string, add postFunc) {
	add(code, kindExact, uri)
	add(code, kindURIBelow, uri)
	n := 0
	for i := 0; i < len(uri) && n < maxURISegments; i++ {
		if uri[i] == '/' && i > 0 {
			add(code, kindURIBelow, uri[:i])
			n++
		}
	}
}

// prefixRunes cuts a normalized string to the longest prefix that the
// index posts.
func prefixRunes(norm string) (string, bool) {
	if utf8.RuneCountInString(norm) <= maxPrefixRunes {
		return norm, false
	}
	n := 0
	for i := range norm {
		if n == maxPrefixRunes {
			return norm[:i], true
		}
		n++
	}
	return norm, false
}
