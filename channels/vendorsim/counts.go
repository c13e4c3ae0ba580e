package vendorsim

// AppCounts returns the counters of one vendor, region and app without the
// per-token counts (Tokens is nil), and whether the app has any. Unlike
// Stats it copies nothing that grows with the traffic, so it is cheap
// enough to poll while the simulator serves a large load: Stats holds the
// simulator's lock while it copies every token counter, which stalls the
// vendor endpoints for as long.
func (s *Simulator) AppCounts(vendor, region, appID string) (AppStats, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.stats.Vendors[vendor]
	if v == nil || v.Regions[region] == nil || v.Regions[region].Apps[appID] == nil {
		return AppStats{}, false
	}
	a := *v.Regions[region].Apps[appID]
	a.Tokens = nil
	return a, true
}
