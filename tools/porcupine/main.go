// Command linearizable checks a history of key-value operations, recorded by
// benchmarks/robustness.py, for linearizability with porcupine.
//
//	linearizable [-timeout 60s] [-html FILE] < history.json
//
// The history is a JSON list of operations:
//
//	{"client": 3, "key": "k1", "op": "put", "value": "v7", "expect": "",
//	 "call": 1200, "return": 1900,
//	 "out": {"ok": true, "exists": null, "value": null, "rev": 41}}
//
// op is put, get, delete or cas (compare-and-swap: set value if the current
// value is expect). "return": null is an unknown outcome: the operation may
// have happened at any time after its call, or never. Output fields that are
// null were not observed. Each key is checked on its own (a partition).
//
// It prints one JSON line: {"result": "Ok"|"Illegal"|"Unknown", "operations":
// n, "keys": n, "illegal": [keys], "unknown": [keys]}, and exits 0 (Ok),
// 1 (Illegal) or 2 (Unknown: the check timed out, nothing proven either way).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

type output struct {
	OK     *bool   `json:"ok"`
	Exists *bool   `json:"exists"`
	Value  *string `json:"value"`
	Rev    int64   `json:"rev"`
}

type record struct {
	Client int     `json:"client"`
	Key    string  `json:"key"`
	Op     string  `json:"op"`
	Value  string  `json:"value"`
	Expect string  `json:"expect"`
	Call   int64   `json:"call"`
	Return *int64  `json:"return"`
	Out    *output `json:"out"`
}

// input is what an operation asked for; its output is *output (nil: unknown outcome).
type input struct {
	op, value, expect string
}

// state of one key: whether it exists, its value, and its mod revision (0: not known).
type state struct {
	exists bool
	value  string
	rev    int64
}

func newerRev(s state, rev int64) bool {
	return rev == 0 || s.rev == 0 || rev > s.rev
}

// sameRev: an observed revision agrees with the state's (unknown on either side agrees).
func sameRev(s state, rev int64) bool {
	return rev == 0 || s.rev == 0 || rev == s.rev
}

// matches: what a read (or a failed compare) observed agrees with the state.
func matches(s state, out *output) bool {
	if out.Exists != nil && *out.Exists != s.exists {
		return false
	}
	if s.exists && out.Value != nil && *out.Value != s.value {
		return false
	}
	return !s.exists || sameRev(s, out.Rev)
}

func learn(s state, out *output) state {
	if s.exists && s.rev == 0 && out.Rev != 0 {
		s.rev = out.Rev
	}
	return s
}

func step(st interface{}, in interface{}, o interface{}) (bool, interface{}) {
	s := st.(state)
	i := in.(input)
	out, _ := o.(*output)
	switch i.op {
	case "put":
		if out == nil {
			return true, state{true, i.value, 0}
		}
		return newerRev(s, out.Rev), state{true, i.value, out.Rev}
	case "get":
		if out == nil {
			return true, s
		}
		return matches(s, out), learn(s, out)
	case "delete":
		if out == nil {
			return true, state{}
		}
		return out.Exists == nil || *out.Exists == s.exists, state{}
	case "cas":
		holds := s.exists && s.value == i.expect
		if out == nil {
			if holds {
				return true, state{true, i.value, 0}
			}
			return true, s
		}
		if out.OK == nil || *out.OK != holds {
			return false, s
		}
		if holds {
			return newerRev(s, out.Rev), state{true, i.value, out.Rev}
		}
		return matches(s, out), learn(s, out)
	}
	return false, s
}

func str(p *string) string {
	if p == nil {
		return "?"
	}
	return fmt.Sprintf("%q", *p)
}

func describe(in interface{}, o interface{}) string {
	i := in.(input)
	out, _ := o.(*output)
	call := ""
	switch i.op {
	case "put":
		call = fmt.Sprintf("put(%q)", i.value)
	case "cas":
		call = fmt.Sprintf("cas(%q -> %q)", i.expect, i.value)
	default:
		call = i.op + "()"
	}
	if out == nil {
		return call + " -> unknown"
	}
	res := ""
	if out.OK != nil {
		res += fmt.Sprintf(" ok=%v", *out.OK)
	}
	if out.Exists != nil {
		res += fmt.Sprintf(" exists=%v", *out.Exists)
	}
	if out.Value != nil {
		res += " value=" + str(out.Value)
	}
	if out.Rev != 0 {
		res += fmt.Sprintf(" rev=%d", out.Rev)
	}
	return call + " ->" + res
}

var model = porcupine.Model{
	Init:              func() interface{} { return state{} },
	Step:              step,
	DescribeOperation: describe,
	DescribeState: func(st interface{}) string {
		s := st.(state)
		if !s.exists {
			return "absent"
		}
		return fmt.Sprintf("%q@%d", s.value, s.rev)
	},
}

func main() {
	timeout := flag.Duration("timeout", 60*time.Second, "give up on a key after this long (result Unknown)")
	html := flag.String("html", "", "write porcupine's visualization of the keys not proven Ok to this file")
	flag.Parse()

	var records []record
	if err := json.NewDecoder(os.Stdin).Decode(&records); err != nil {
		fmt.Fprintln(os.Stderr, "linearizable: reading the history:", err)
		os.Exit(3)
	}
	byKey := map[string][]porcupine.Operation{}
	for _, r := range records {
		ret := int64(math.MaxInt64)
		var out interface{} = (*output)(nil)
		if r.Return != nil {
			ret = *r.Return
			if r.Out == nil {
				fmt.Fprintln(os.Stderr, "linearizable: an operation with a return time needs an out")
				os.Exit(3)
			}
			out = r.Out
		}
		byKey[r.Key] = append(byKey[r.Key], porcupine.Operation{
			ClientId: r.Client, Input: input{r.Op, r.Value, r.Expect}, Call: r.Call, Output: out, Return: ret,
		})
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	illegal, unknown := []string{}, []string{}
	var bad []porcupine.Operation
	for _, k := range keys {
		res, _ := porcupine.CheckOperationsVerbose(model, byKey[k], *timeout)
		switch res {
		case porcupine.Illegal:
			illegal = append(illegal, k)
			bad = append(bad, byKey[k]...)
		case porcupine.Unknown:
			unknown = append(unknown, k)
		}
	}
	if *html != "" && len(bad) > 0 {
		_, info := porcupine.CheckOperationsVerbose(model, bad, *timeout)
		if err := porcupine.VisualizePath(model, info, *html); err != nil {
			fmt.Fprintln(os.Stderr, "linearizable: writing the visualization:", err)
		}
	}
	result := "Ok"
	code := 0
	if len(illegal) > 0 {
		result, code = "Illegal", 1
	} else if len(unknown) > 0 {
		result, code = "Unknown", 2
	}
	verdict, _ := json.Marshal(map[string]interface{}{
		"result": result, "operations": len(records), "keys": len(keys), "illegal": illegal, "unknown": unknown,
	})
	fmt.Println(string(verdict))
	os.Exit(code)
}
