package host

import (
	"context"
	"net/http"
	"time"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

type healthResponse struct {
	OK       bool              `json:"ok"`
	Database string            `json:"database"`
	Plugins  map[string]string `json:"plugins"`
}

// healthz answers 200 when the database answers and every plugin serves,
// else 503, with what is wrong.
func (h *Host) healthz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	out := healthResponse{OK: true, Database: "ok", Plugins: map[string]string{}}
	if err := h.store.Ping(ctx); err != nil {
		out.OK, out.Database = false, "unavailable"
		h.log.Warn("health: database unavailable", "error", err)
	}
	for _, name := range h.plugins.Names() {
		pr, aerr := h.provider(name)
		if aerr != nil {
			continue
		}
		_, err := call(ctx, h, pr, "GetProviderInfo", func(ctx context.Context, c scmv1.ProviderServiceClient) (*scmv1.GetProviderInfoResponse, error) {
			return c.GetProviderInfo(ctx, &scmv1.GetProviderInfoRequest{})
		})
		if err != nil {
			out.OK = false
			out.Plugins[name] = "unavailable"
			continue
		}
		out.Plugins[name] = "serving"
	}
	status := http.StatusOK
	if !out.OK {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, out)
	return nil
}
