package lifecycle

// EventID is the EventId [Compile] gives the event of instanceID at index
// rank among the scheduled events of code (counting those with an id of
// their own) when the configuration gives none: the control API names
// configured events by it.
func EventID(instanceID, code string, rank int) string { return eventID(instanceID, code, rank) }
