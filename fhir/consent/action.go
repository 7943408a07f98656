package consent

// interactionActions maps FHIR RESTful interactions, by their names in
// the CapabilityStatement (restful-interaction code system), and the bulk
// $export operation to consentaction codes:
//
//   - Reading interactions are access: the data is shown to the requester.
//   - create is collect: new data about the patient is gathered and kept.
//   - update, patch and delete are correct: they change what is recorded.
//   - $export is disclose: copies of the data leave the server in bulk for
//     another system to keep.
//
// No interaction maps to use. The entries of a batch or transaction are
// decided one by one with their own interactions.
var interactionActions = map[string]string{
	"read":             ActionAccess,
	"vread":            ActionAccess,
	"search-type":      ActionAccess,
	"search-system":    ActionAccess,
	"search":           ActionAccess,
	"history":          ActionAccess,
	"history-instance": ActionAccess,
	"history-type":     ActionAccess,
	"history-system":   ActionAccess,
	"create":           ActionCollect,
	"update":           ActionCorrect,
	"patch":            ActionCorrect,
	"delete":           ActionCorrect,
	"$export":          ActionDisclose,
}

// ActionForInteraction returns the consentaction code for a FHIR
// interaction name such as "read", "search-type", "create" or "$export".
// It returns false for a name it does not know; the caller should then
// deny rather than guess.
func ActionForInteraction(interaction string) (string, bool) {
	action, ok := interactionActions[interaction]
	return action, ok
}
