package bench

import (
	"context"
	"errors"
)

// listing measures goal 5 (waits for plugin/gitlab/repositories.go).
func (r *run) listing(ctx context.Context) error {
	return errors.New("ListRepositories strategies are not in plugin/gitlab yet")
}
