package gitlab

// listConfig tunes ListRepositories.
type listConfig struct{}

func defaultListConfig() listConfig { return listConfig{} }
