"""Time off (requests, approval, affected appointments, coverage, resolve) and closures: the
services and selectors here, the API in scheduling/time_off_api.py, the pages in
scheduling/time_off_views.py (presentation files sit beside scheduling's own).

Built on scheduling's services and selectors; scheduling itself never imports this package (its
slot search reads the TimeOff and Closure *models* directly), so the dependency stays one-way."""
