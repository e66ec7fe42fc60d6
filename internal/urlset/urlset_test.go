package urlset

import "testing"

func TestEqual(t *testing.T) {
	cases := []struct {
		a, b []string
		want bool
	}{
		{[]string{"http://a:1", "http://b:2"}, []string{"http://b:2", "http://a:1"}, true},
		{[]string{"http://a:1"}, []string{"http://a:1", "http://a:1"}, false},
		{[]string{"http://a:1"}, []string{"http://b:1"}, false},
		{nil, []string{}, true},
	}
	for _, c := range cases {
		if got := Equal(c.a, c.b); got != c.want {
			t.Errorf("Equal(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
	a := []string{"http://b:2", "http://a:1"}
	Equal(a, []string{"http://a:1", "http://b:2"})
	if a[0] != "http://b:2" {
		t.Errorf("Equal sorted its argument in place: %v", a)
	}
}
