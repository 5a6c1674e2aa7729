package kano

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// The OpenAI cookbook's sample conversation ("How to count tokens with tiktoken", section 6),
// as tests/chat.rs has it; the API counted 129 prompt tokens for gpt-4 and 124 for gpt-4o.
const cookbookMessages = `[
	{"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
	{"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
	{"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
	{"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
	{"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
	{"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."}
]`

// The cookbook's tools sample (section 7): 105 tokens for gpt-4, 101 for gpt-4o.
func cookbookToolsRequest(model, extra string) string {
	return fmt.Sprintf(`{"model": %q, %s"messages": [
		{"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
		{"role": "user", "content": "What's the weather like in San Francisco?"}
	], "tools": [{"type": "function", "function": {
		"name": "get_current_weather",
		"description": "Get the current weather in a given location",
		"parameters": {"type": "object", "properties": {
			"location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
			"unit": {"type": "string", "description": "The unit of temperature to return", "enum": ["celsius", "fahrenheit"]}
		}, "required": ["location"]}
	}}]}`, model, extra)
}

func mustCountChat(t *testing.T, a *Adapter, request string) ChatCount {
	t.Helper()
	c, err := a.CountChat(request)
	if err != nil {
		t.Fatalf("CountChat with %s/%s: %v", a.Name(), a.Model(), err)
	}
	if sum := sumOf(c.Messages) + c.Tools + c.ReplyPriming; sum != c.Total {
		t.Errorf("%s/%s: messages, tools and priming sum to %d, total %d", a.Name(), a.Model(), sum, c.Total)
	}
	return c
}

func sumOf(counts []uint64) uint64 {
	var sum uint64
	for _, n := range counts {
		sum += n
	}
	return sum
}

func TestCountChatMatchesTheCookbook(t *testing.T) {
	reg := mustRegistry(t)
	for _, tc := range []struct {
		model string
		want  uint64
	}{{"gpt-3.5-turbo", 129}, {"gpt-4", 129}, {"gpt-4-0613", 129}, {"gpt-4o", 124}, {"gpt-4o-mini", 124}, {"gpt-3.5-turbo-0301", 127}} {
		a := mustResolve(t, reg, "tiktoken", tc.model)
		c := mustCountChat(t, a, fmt.Sprintf(`{"model": %q, "messages": %s}`, tc.model, cookbookMessages))
		if c.Total != tc.want || !c.IsExact || c.Reasons != nil || c.LowerBound != c.Total || c.UpperBound != c.Total {
			t.Errorf("%s: %+v, want %d exactly", tc.model, c, tc.want)
		}
		if len(c.Messages) != 6 || c.Tools != 0 || c.ReplyPriming != 3 || c.Method != MethodTiktoken {
			t.Errorf("%s: %+v", tc.model, c)
		}
	}
	for _, tc := range []struct {
		model string
		want  uint64
	}{{"gpt-3.5-turbo", 105}, {"gpt-4", 105}, {"gpt-4o", 101}, {"gpt-4o-mini", 101}} {
		c := mustCountChat(t, mustResolve(t, reg, "tiktoken", tc.model), cookbookToolsRequest(tc.model, ""))
		if c.Total != tc.want || !c.IsExact || c.Tools <= 12 || len(c.Messages) != 2 {
			t.Errorf("%s with tools: %+v, want %d exactly", tc.model, c, tc.want)
		}
	}
	// Without a model in the request, the adapter's encoding picks the rules; as bytes too.
	o200k := mustResolve(t, reg, "tiktoken", "o200k_base")
	if c, err := o200k.CountChatBytes([]byte(`{"messages": ` + cookbookMessages + `}`)); err != nil || c.Total != 124 {
		t.Errorf("o200k_base without a model: %+v, %v", c, err)
	}
}

// A message is 3 tokens, plus its fields' tokens as Count counts them, plus 1 for a name.
func TestCountChatMessagesAreTheirPiecesCounted(t *testing.T) {
	reg := mustRegistry(t)
	for _, model := range []string{"gpt-4o", "gpt-4"} {
		a := mustResolve(t, reg, "tiktoken", model)
		type message struct {
			Role    string `json:"role"`
			Name    string `json:"name,omitempty"`
			Content string `json:"content"`
		}
		messages := []message{
			{Role: "system", Content: "You are terse."},
			{Role: "user", Name: "bob", Content: "Hello there, how are you? Café 東京 🎉"},
			{Role: "assistant", Content: ""},
		}
		request, err := json.Marshal(map[string]any{"messages": messages})
		if err != nil {
			t.Fatal(err)
		}
		c, err := a.CountChatBytes(request)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range messages {
			want := 3 + mustCount(t, a, m.Role).Count + mustCount(t, a, m.Content).Count
			if m.Name != "" {
				want += 1 + mustCount(t, a, m.Name).Count
			}
			if c.Messages[i] != want {
				t.Errorf("%s: message %d counts %d, its pieces %d", model, i, c.Messages[i], want)
			}
		}
		if c.Total != sumOf(c.Messages)+3 || !c.IsExact {
			t.Errorf("%s: %+v", model, c)
		}
	}
}

func TestCountChatNamesWhatIsNotExact(t *testing.T) {
	reg := mustRegistry(t)
	gpt := mustResolve(t, reg, "tiktoken", "gpt-4o")
	for _, tc := range []struct{ extra, reason string }{
		{`"tool_choice": "auto", `, "tool_choice"},
		{`"response_format": {"type": "json_object"}, `, "response_format"},
	} {
		c := mustCountChat(t, gpt, cookbookToolsRequest("gpt-4o", tc.extra))
		if c.IsExact || c.Total != 101 || !strings.Contains(strings.Join(c.Reasons, "\n"), tc.reason) {
			t.Errorf("%s: %+v", tc.reason, c)
		}
	}
	// Audio cannot be bounded; two reasons come back as two entries.
	c := mustCountChat(t, gpt, `{"tool_choice": "none", "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]}`)
	if c.IsExact || c.UpperBound != math.MaxUint64 || len(c.Reasons) < 2 {
		t.Errorf("audio: %+v", c)
	}
	for _, reason := range c.Reasons {
		if reason == "" || strings.Contains(reason, "\n") {
			t.Errorf("audio: reasons %q", c.Reasons)
		}
	}
	// The heuristic counts by the same rules, and says that it estimates.
	h := mustCountChat(t, mustResolve(t, reg, "heuristic", "gpt-4o"), `{"messages": `+cookbookMessages+`}`)
	if h.IsExact || len(h.Reasons) == 0 || !strings.Contains(h.Reasons[0], "heuristic") || h.Method != MethodHeuristic {
		t.Errorf("heuristic: %+v", h)
	}
}

func TestCountChatErrors(t *testing.T) {
	reg := mustRegistry(t)
	gpt := mustResolve(t, reg, "tiktoken", "gpt-4o")
	_, err := gpt.CountChat(`{"messages": [{"role": 3, "content": "hi"}]}`)
	kanoError(t, err, ErrInvalidArgument, "messages[0].role")
	_, err = gpt.CountChat(`{"messages": [`)
	kanoError(t, err, ErrInvalidArgument)
	_, err = gpt.CountChat(`{"messages": ` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `}`)
	kanoError(t, err, ErrInvalidArgument, "nested deeper")
	_, err = gpt.CountChatBytes([]byte("{\"messages\": [{\"role\": \"user\", \"content\": \"caf\xff\"}]}"))
	kanoError(t, err, ErrInvalidUTF8, "offset 46")
	gpt2, err := filepath.Abs(filepath.Join(repoRoot, "tests", "fixtures", "tokenizers", "gpt2", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = mustResolve(t, reg, "huggingface", gpt2).CountChat(`{"messages": []}`)
	kanoError(t, err, ErrUnsupported, "chat template")
	_, err = mustResolve(t, reg, "tiktoken", "r50k_base").CountChat(`{"messages": []}`)
	kanoError(t, err, ErrUnsupported)
	gpt.Close()
	_, err = gpt.CountChat(`{"messages": []}`)
	kanoError(t, err, ErrClosed)
}
