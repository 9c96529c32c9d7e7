package store

// The additional authenticated data of each sealed column: purpose, version
// and row id. A ciphertext moved to another row or column does not open.
func credentialsAAD(integrationID string) []byte {
	return []byte("oore-host/integration-credentials/v1|" + integrationID)
}

func webhookSecretAAD(repositoryID string) []byte {
	return []byte("oore-host/webhook-secret/v1|" + repositoryID)
}

func verifierAAD(stateID string) []byte {
	return []byte("oore-host/oauth-verifier/v1|" + stateID)
}
