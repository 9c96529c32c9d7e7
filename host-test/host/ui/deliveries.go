package ui

import (
	"net/http"
	"net/url"
	"strconv"
)

type deliveriesData struct {
	Deliveries []deliveryView
	Pager      pager
	// Integration filters the list when set.
	Integration *integrationView
}

type deliveryView struct {
	delivery
	ProviderLabel string
}

// deliveriesPage lists recent webhook deliveries, newest first, with the
// builds each triggered or why it triggered none.
func (h *Handler) deliveriesPage(w http.ResponseWriter, r *http.Request, c call) {
	q := r.URL.Query()
	page := pageOf(q)
	aq := url.Values{"limit": {strconv.Itoa(pageSize)}, "offset": {strconv.FormatInt(offsetOf(page), 10)}}
	cat := newCatalog(h.providers)
	d := deliveriesData{}
	if id := q.Get("integration"); id != "" {
		det, err := c.loadIntegration(id)
		if err != nil {
			h.apiFailed(w, r, err)
			return
		}
		iv := h.integrationView(cat, det.Integration)
		d.Integration = &iv
		aq.Set("integration_id", id)
	}
	var res listDeliveriesResponse
	if err := c.do(http.MethodGet, apiPath(aq, "webhook-deliveries"), nil, &res); err != nil {
		h.apiFailed(w, r, err)
		return
	}
	d.Pager = newPager(basePath+"/deliveries", url.Values{"integration": {q.Get("integration")}}, page, len(res.Deliveries), res.Total)
	for _, dl := range res.Deliveries {
		d.Deliveries = append(d.Deliveries, deliveryView{delivery: dl, ProviderLabel: cat.displayName(dl.Provider)})
	}
	c.page(w, http.StatusOK, "deliveries", view{Title: "Webhook deliveries", Nav: "deliveries", Data: d})
}
