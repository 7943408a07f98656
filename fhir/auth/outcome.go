package auth

import (
	"encoding/json"

	"github.com/gin-gonic/gin"
)

// operationOutcome is the minimal FHIR OperationOutcome this package sends.
type operationOutcome struct {
	ResourceType string         `json:"resourceType"`
	Issue        []outcomeIssue `json:"issue"`
}

type outcomeIssue struct {
	Severity    string `json:"severity"`
	Code        string `json:"code"`
	Diagnostics string `json:"diagnostics"`
}

// writeOutcome aborts the request with an OperationOutcome of one error
// issue.
func writeOutcome(c *gin.Context, status int, code, text string) {
	body, err := json.Marshal(operationOutcome{
		ResourceType: "OperationOutcome",
		Issue:        []outcomeIssue{{Severity: "error", Code: code, Diagnostics: text}},
	})
	if err != nil {
		// json.Marshal fails only on unsupported types and values, and this
		// struct has none. Keep the status all the same.
		c.AbortWithStatus(status)
		return
	}
	c.Data(status, "application/fhir+json; charset=utf-8", body)
	c.Abort()
}
