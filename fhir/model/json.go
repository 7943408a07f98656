package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/custos/custos/fhir/outcome"
)

// checkJSON rejects input that is not one well-formed JSON object, or that
// names a key twice in one object. RFC 8259 leaves the meaning of repeated
// keys to the parser, and google/fhir/go keeps the last value, so what a
// client sent and what is stored could differ. The messages give byte
// offsets and element paths, never the input's content.
func checkJSON(body []byte) *outcome.Error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]bool
		path   string
		key    bool // the next string token is a key
	}
	var stack []*frame
	top := func() *frame {
		if len(stack) == 0 {
			return nil
		}
		return stack[len(stack)-1]
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return syntaxError(err, dec.InputOffset())
		}
		f := top()
		if name, isString := tok.(string); isString && f != nil && f.object && f.key {
			if f.keys[name] {
				path := name
				if f.path != "" {
					path = f.path + "." + name
				}
				return outcome.At(http.StatusBadRequest, "structure", path,
					"%s: the element is given twice in one object", path)
			}
			f.keys[name] = true
			f.key = false
			continue
		}
		switch d := tok.(type) {
		case json.Delim:
			switch d {
			case '{', '[':
				path := ""
				if f != nil {
					path = f.path
				}
				stack = append(stack, &frame{object: d == '{', keys: map[string]bool{},
					path: path, key: d == '{'})
				continue
			case '}', ']':
				stack = stack[:len(stack)-1]
			}
		}
		if f := top(); f != nil && f.object {
			f.key = true
		}
		if len(stack) == 0 && dec.More() {
			return outcome.New(http.StatusBadRequest, "invalid",
				"the body holds more than one JSON value")
		}
	}
	return nil
}

func syntaxError(err error, offset int64) *outcome.Error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		offset = se.Offset
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return outcome.New(http.StatusBadRequest, "invalid",
			"the body is not valid JSON: it ends before the JSON value does")
	}
	return outcome.New(http.StatusBadRequest, "invalid",
		"the body is not valid JSON: syntax error near byte %d", offset)
}
