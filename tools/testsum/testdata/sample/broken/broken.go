//go:build broken

// Package broken does not compile with the tag broken.
package broken

func X() int { return "not an int" }
