package sqlstore

// SetSearchScopeMax sets the most conversations a search reads whole, until
// the function it returns restores it.
func SetSearchScopeMax(n int) (restore func()) {
	before := searchScopeMax
	searchScopeMax = n
	return func() { searchScopeMax = before }
}
