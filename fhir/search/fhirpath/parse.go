// Package fhirpath evaluates the subset of FHIRPath that the R4
// SearchParameter expressions of Patient, DocumentReference, Consent,
// AuditEvent, Resource and DomainResource use, over resources decoded by
// encoding/json into map[string]any. It supports paths, union (|),
// equality (= and !=), and, the type operators is and as, and the functions
// where, exists, empty, not, first, resolve, extension, ofType and as.
package fhirpath

import (
	"fmt"
	"strings"
	"unicode"
)

// MaxExpressionLength is the longest expression Parse accepts, in bytes.
const MaxExpressionLength = 4096

// maxDepth bounds the nesting of parentheses and function arguments.
const maxDepth = 32

// Expression is a parsed FHIRPath expression, safe for concurrent use.
type Expression struct {
	text string
	root node
}

// String returns the source text of the expression.
func (e *Expression) String() string { return e.text }

type nodeKind int

const (
	kindIdent    nodeKind = iota // a name: a path step or a type name
	kindString                   // a string literal
	kindBool                     // true or false
	kindNumber                   // a number literal, kept as text
	kindInvoke                   // left.name or left.name(args)
	kindCall                     // name(args) with no left side
	kindUnion                    // left | right
	kindEqual                    // left = right
	kindNotEqual                 // left != right
	kindAnd                      // left and right
	kindOr                       // left or right
	kindIs                       // left is Type
	kindAs                       // left as Type
)

type node struct {
	kind  nodeKind
	name  string // identifier, function or type name, or literal text
	left  *node
	right *node
	args  []*node
	call  bool // kindInvoke: a function call rather than a path step
}

type token struct {
	kind string // "ident", "string", "number", "op", "eof"
	text string
	pos  int
}

// Parse parses a FHIRPath expression of the supported subset.
func Parse(text string) (*Expression, error) {
	if len(text) > MaxExpressionLength {
		return nil, fmt.Errorf("fhirpath: expression longer than %d bytes",
			MaxExpressionLength)
	}
	toks, err := lex(text)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	root, err := p.parseExpr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != "eof" {
		return nil, fmt.Errorf("fhirpath: unexpected %q at offset %d", t.text, t.pos)
	}
	return &Expression{text: text, root: *root}, nil
}

// MustParse is Parse for expressions known at compile time; it panics on
// an error.
func MustParse(text string) *Expression {
	e, err := Parse(text)
	if err != nil {
		panic(err)
	}
	return e
}

func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			text, n, err := lexString(s[i:])
			if err != nil {
				return nil, fmt.Errorf("fhirpath: %w at offset %d", err, i)
			}
			toks = append(toks, token{"string", text, i})
			i += n
		case c == '`':
			end := strings.IndexByte(s[i+1:], '`')
			if end < 0 {
				return nil, fmt.Errorf("fhirpath: unterminated identifier at offset %d", i)
			}
			toks = append(toks, token{"ident", s[i+1 : i+1+end], i})
			i += end + 2
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
				j++
			}
			toks = append(toks, token{"number", s[i:j], i})
			i = j
		case c == '_' || unicode.IsLetter(rune(c)):
			j := i
			for j < len(s) && (s[j] == '_' || unicode.IsLetter(rune(s[j])) ||
				s[j] >= '0' && s[j] <= '9') {
				j++
			}
			toks = append(toks, token{"ident", s[i:j], i})
			i = j
		case c == '!' && i+1 < len(s) && s[i+1] == '=':
			toks = append(toks, token{"op", "!=", i})
			i += 2
		case strings.IndexByte(".()|=,", c) >= 0:
			toks = append(toks, token{"op", string(c), i})
			i++
		default:
			return nil, fmt.Errorf("fhirpath: unsupported character %q at offset %d", c, i)
		}
	}
	return append(toks, token{"eof", "", len(s)}), nil
}

// lexString reads a quoted string literal at the start of s and returns
// its value and the number of bytes it took.
func lexString(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\'':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 >= len(s) {
				return "", 0, fmt.Errorf("unterminated escape")
			}
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, fmt.Errorf("unterminated string")
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != "eof" {
		p.pos++
	}
	return t
}

func (p *parser) isOp(text string) bool {
	t := p.peek()
	return t.kind == "op" && t.text == text
}

func (p *parser) isWord(word string) bool {
	t := p.peek()
	return t.kind == "ident" && t.text == word
}

func (p *parser) expectOp(text string) error {
	if t := p.next(); t.kind != "op" || t.text != text {
		return fmt.Errorf("fhirpath: expected %q at offset %d, found %q", text, t.pos, t.text)
	}
	return nil
}

// Precedence, loosest first: or, and, = and !=, |, is and as, then
// invocation. This follows the FHIRPath operator table for the operators
// that the subset contains.
func (p *parser) parseExpr(depth int) (*node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("fhirpath: expression nested deeper than %d", maxDepth)
	}
	left, err := p.parseAnd(depth)
	if err != nil {
		return nil, err
	}
	for p.isWord("or") {
		p.next()
		right, err := p.parseAnd(depth)
		if err != nil {
			return nil, err
		}
		left = &node{kind: kindOr, left: left, right: right}
	}
	return left, nil
}

func (p *parser) parseAnd(depth int) (*node, error) {
	left, err := p.parseEquality(depth)
	if err != nil {
		return nil, err
	}
	for p.isWord("and") {
		p.next()
		right, err := p.parseEquality(depth)
		if err != nil {
			return nil, err
		}
		left = &node{kind: kindAnd, left: left, right: right}
	}
	return left, nil
}

func (p *parser) parseEquality(depth int) (*node, error) {
	left, err := p.parseUnion(depth)
	if err != nil {
		return nil, err
	}
	for p.isOp("=") || p.isOp("!=") {
		kind := kindEqual
		if p.next().text == "!=" {
			kind = kindNotEqual
		}
		right, err := p.parseUnion(depth)
		if err != nil {
			return nil, err
		}
		left = &node{kind: kind, left: left, right: right}
	}
	return left, nil
}

func (p *parser) parseUnion(depth int) (*node, error) {
	left, err := p.parseType(depth)
	if err != nil {
		return nil, err
	}
	for p.isOp("|") {
		p.next()
		right, err := p.parseType(depth)
		if err != nil {
			return nil, err
		}
		left = &node{kind: kindUnion, left: left, right: right}
	}
	return left, nil
}

func (p *parser) parseType(depth int) (*node, error) {
	left, err := p.parsePostfix(depth)
	if err != nil {
		return nil, err
	}
	for p.isWord("is") || p.isWord("as") {
		kind := kindIs
		if p.next().text == "as" {
			kind = kindAs
		}
		name, err := p.parseTypeName()
		if err != nil {
			return nil, err
		}
		left = &node{kind: kind, left: left, name: name}
	}
	return left, nil
}

// parseTypeName reads a type specifier such as Patient or FHIR.dateTime and
// returns the name without its namespace.
func (p *parser) parseTypeName() (string, error) {
	t := p.next()
	if t.kind != "ident" {
		return "", fmt.Errorf("fhirpath: expected a type name at offset %d", t.pos)
	}
	name := t.text
	for p.isOp(".") && p.toks[p.pos+1].kind == "ident" {
		p.next()
		name = p.next().text
	}
	return name, nil
}

func (p *parser) parsePostfix(depth int) (*node, error) {
	left, err := p.parsePrimary(depth)
	if err != nil {
		return nil, err
	}
	for p.isOp(".") {
		p.next()
		t := p.next()
		if t.kind != "ident" {
			return nil, fmt.Errorf("fhirpath: expected a name after '.' at offset %d", t.pos)
		}
		n := &node{kind: kindInvoke, name: t.text, left: left}
		if p.isOp("(") {
			n.call = true
			if n.args, err = p.parseArgs(depth); err != nil {
				return nil, err
			}
		}
		left = n
	}
	return left, nil
}

func (p *parser) parseArgs(depth int) ([]*node, error) {
	if err := p.expectOp("("); err != nil {
		return nil, err
	}
	var args []*node
	if p.isOp(")") {
		p.next()
		return args, nil
	}
	for {
		arg, err := p.parseExpr(depth + 1)
		if err != nil {
			return nil, err
		}
		args = append(args, arg)
		if p.isOp(",") {
			p.next()
			continue
		}
		return args, p.expectOp(")")
	}
}

func (p *parser) parsePrimary(depth int) (*node, error) {
	t := p.next()
	switch t.kind {
	case "string":
		return &node{kind: kindString, name: t.text}, nil
	case "number":
		return &node{kind: kindNumber, name: t.text}, nil
	case "ident":
		if t.text == "true" || t.text == "false" {
			return &node{kind: kindBool, name: t.text}, nil
		}
		if p.isOp("(") {
			args, err := p.parseArgs(depth)
			if err != nil {
				return nil, err
			}
			return &node{kind: kindCall, name: t.text, args: args}, nil
		}
		return &node{kind: kindIdent, name: t.text}, nil
	case "op":
		if t.text == "(" {
			inner, err := p.parseExpr(depth + 1)
			if err != nil {
				return nil, err
			}
			return inner, p.expectOp(")")
		}
	}
	if t.kind == "eof" {
		return nil, fmt.Errorf("fhirpath: unexpected end of expression")
	}
	return nil, fmt.Errorf("fhirpath: unexpected %q at offset %d", t.text, t.pos)
}
