package hashing

import (
	"math"
	"strconv"
)

// MaxSafeInteger is 2^53−1, the largest integer every IEEE-754 double
// represents exactly and so the largest integer literal data may hold.
const MaxSafeInteger = 1<<53 - 1

// appendNumber appends f as ECMAScript's Number.prototype.toString writes it
// (ECMA-262 Number::toString, as RFC 8785 requires).
//
// A double whose magnitude lies in [2^53, 1e21) is refused with
// ErrIntegerRange: ECMAScript writes it as an integer literal beyond
// ±(2^53−1), so its canonical form would itself break the integer rule and
// could not be read back. Refusing it keeps accepted data closed under
// canonicalization (1e17 is refused; 1e21 and 1.5e300 are written with an
// exponent and accepted).
func appendNumber(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, ErrNumberRange
	}
	if a := math.Abs(f); a > MaxSafeInteger && a < 1e21 {
		return dst, ErrIntegerRange
	}
	if f == 0 { // also -0
		return append(dst, '0'), nil
	}
	if f == math.Trunc(f) && math.Abs(f) <= MaxSafeInteger {
		return strconv.AppendInt(dst, int64(f), 10), nil
	}
	if f < 0 {
		dst = append(dst, '-')
		f = -f
	}
	// Shortest round-tripping digits, as "d.ddde±x"; Go and ECMAScript pick
	// the same digits (the closest shortest), only the layout differs.
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	mant, exp := e, 0
	for i, c := range e {
		if c == 'e' {
			mant = e[:i]
			x, _ := strconv.Atoi(string(e[i+1:]))
			exp = x
			break
		}
	}
	var digits [24]byte
	k := 0
	for _, c := range mant {
		if c != '.' {
			digits[k] = c
			k++
		}
	}
	ds := digits[:k]
	n := exp + 1 // the position of the decimal point relative to ds
	switch {
	case k <= n && n <= 21:
		dst = append(dst, ds...)
		for i := k; i < n; i++ {
			dst = append(dst, '0')
		}
	case 0 < n && n <= 21:
		dst = append(dst, ds[:n]...)
		dst = append(dst, '.')
		dst = append(dst, ds[n:]...)
	case -6 < n && n <= 0:
		dst = append(dst, '0', '.')
		for i := 0; i < -n; i++ {
			dst = append(dst, '0')
		}
		dst = append(dst, ds...)
	default:
		dst = append(dst, ds[0])
		if k > 1 {
			dst = append(dst, '.')
			dst = append(dst, ds[1:]...)
		}
		dst = append(dst, 'e')
		if n-1 >= 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, int64(n-1), 10)
	}
	return dst, nil
}

// appendInteger appends an integer held in BSON as int32 or int64; it must lie
// within ±(2^53−1), as a JSON integer literal must.
func appendInteger(dst []byte, n int64) ([]byte, error) {
	if n > MaxSafeInteger || n < -MaxSafeInteger {
		return dst, ErrIntegerRange
	}
	return strconv.AppendInt(dst, n, 10), nil
}
