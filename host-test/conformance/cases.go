package conformance

import "errors"

// allCases is the suite's case table, in the order the cases run. The
// robustness cases come after the functional ones, and the log check last,
// so it sees every secret the other cases handed out.
func allCases() []testCase {
	var all []testCase
	all = append(all, launchCases()...)
	all = append(all, connectionCases()...)
	all = append(all, oauthCases()...)
	all = append(all, repositoryCases()...)
	all = append(all, webhookCases()...)
	all = append(all, cloneCases()...)
	all = append(all, projectCases()...)
	all = append(all, robustnessCases()...)
	all = append(all, logCases()...)
	return all
}

func isUnsupported(err error) bool { return errors.Is(err, ErrUnsupported) }
