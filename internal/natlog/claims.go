package natlog

// Claims reports whether a registered parser recognises line as its format. Replay uses it to
// send JSON lines that no parser claims through the field mapping instead.
func (n *Normalizer) Claims(line []byte) bool {
	return n.claim(line) != n.unknownIndex()
}
