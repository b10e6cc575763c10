package modules

import "context"

// sameFiles says which of files the host has already, by index: the same
// size, mode and owner (when one is asked for), then the same sha256,
// computed on the host in one remote command for all of them. It records
// each target's lstat in files[i].existing (nil when it is missing). The
// error is the session's, when it was lost; a file that cannot be looked
// at counts as changed (pushing it will say why).
func (c *sftpConn) sameFiles(ctx context.Context, files []pushSpec, locals []*localFile) ([]bool, error) {
	var candidates []string
	var candSizes []int64
	var candIdx []int
	for i := range files {
		fi, err := c.Lstat(files[i].target)
		if err != nil {
			if lost := c.lost(); lost != nil {
				return nil, lost
			}
			continue // missing (or unreadable: the push will say)
		}
		files[i].existing = fi
		if fi.Mode().IsRegular() && fi.Size() == locals[i].size && sameMode(fi, files[i].mode) && sameOwner(fi, files[i].owner) {
			candidates = append(candidates, files[i].target)
			candSizes = append(candSizes, fi.Size())
			candIdx = append(candIdx, i)
		}
	}
	sums := c.remoteSums(ctx, candidates, candSizes)
	same := make([]bool, len(files))
	for k, i := range candIdx {
		same[i] = sums[k] != "" && sums[k] == locals[i].sum
	}
	return same, nil
}
