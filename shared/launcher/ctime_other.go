//go:build !linux

package launcher

import "os"

func changeTime(os.FileInfo) int64 { return 0 }
