package cni

// ConfListBytes is the conflist the network runs, for tests.
func (n *Network) ConfListBytes() []byte { return n.list.Bytes }
