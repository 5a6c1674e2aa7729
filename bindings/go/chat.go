package kano

// #include <kano_tokenizer.h>
//
// /* kano_adapter_count_chat with the count returned by value, as kano_go_count does. */
// typedef struct { KanoStatus status; KanoChatCount count; } kano_go_chat_result;
// static kano_go_chat_result kano_go_count_chat(const KanoAdapter *adapter, const char *json, size_t len) {
//     kano_go_chat_result r = { KANO_STATUS_OK, { 0, 0, 0, 0, 0, 0, false, KANO_METHOD_HEURISTIC, NULL, NULL } };
//     r.status = kano_adapter_count_chat(adapter, json, len, &r.count);
//     return r;
// }
// /* Every message's kano_chat_count_message in one cgo call, into an array of message_count
//    entries; stops at the first failure and returns its status. */
// static KanoStatus kano_go_chat_messages(const KanoChatCount *count, uint64_t *tokens) {
//     for (size_t i = 0; i < count->message_count; i++) {
//         KanoStatus status = kano_chat_count_message(count, i, &tokens[i]);
//         if (status != KANO_STATUS_OK) {
//             return status;
//         }
//     }
//     return KANO_STATUS_OK;
// }
import "C"

import (
	"runtime"
	"strings"
	"unsafe"
)

// ChatCount is the prompt tokens of a chat request (KanoChatCount), from Adapter.CountChat.
type ChatCount struct {
	// Total is every message, the tools and the reply priming; when not exact, the nearest
	// rule's count.
	Total uint64
	// LowerBound: for exact adapters the API's count is not below it (Total when exact).
	LowerBound uint64
	// UpperBound: nor above it (math.MaxUint64 when something cannot be bounded, such as audio).
	UpperBound uint64
	// Messages is each message's tokens, its per-message tokens included, in request order.
	Messages []uint64
	// Tools is the tokens of the request's tools (0 without tools).
	Tools uint64
	// ReplyPriming is the tokens that prime the reply (3).
	ReplyPriming uint64
	// IsExact is true when the published rules cover the request exactly and the adapter counts
	// exactly.
	IsExact bool
	// Reasons says why the count is not exact, one reason each; nil when exact.
	Reasons []string
	// Method is the adapter that counted: MethodHeuristic or MethodTiktoken.
	Method string
}

// CountChat counts the prompt tokens of an OpenAI Chat Completions request body, given as its
// JSON (kano_adapter_count_chat): messages with role, content (a string or parts), name,
// tool_calls...; optionally model, tools and tool_choice. The rules are the OpenAI cookbook's
// for messages and tools; the request's model, or else the adapter's, picks them. Whatever the
// rules do not cover exactly (content parts, images, audio, tool calls, nested parameters,
// tool_choice, response_format...) is counted by the nearest rule and named in Reasons, with
// IsExact false. No URL is ever fetched.
//
// The JSON is passed without a copy. Errors: ErrInvalidUTF8 (with the byte offset),
// ErrInputTooLarge, ErrInvalidArgument (JSON that does not parse, nesting deeper than 64
// levels, a wrong type; the message names the place, such as messages[2].role), ErrUnsupported
// (a tokenizer.json adapter with no chat template beside it, or r50k_base/p50k_base). A
// tokenizer.json adapter counts with the model's chat template (docs/BUDGETS-AND-CHAT.md).
func (a *Adapter) CountChat(requestJSON string) (ChatCount, error) {
	return a.countChat(stringData(requestJSON), len(requestJSON))
}

// CountChatBytes is CountChat for JSON in a byte slice (as json.Marshal returns it), also
// without a copy.
func (a *Adapter) CountChatBytes(requestJSON []byte) (ChatCount, error) {
	var data *C.char
	if len(requestJSON) > 0 {
		data = (*C.char)(unsafe.Pointer(&requestJSON[0]))
	}
	return a.countChat(data, len(requestJSON))
}

func (a *Adapter) countChat(data *C.char, n int) (ChatCount, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.ptr == nil {
		return ChatCount{}, closedError("Adapter.CountChat: the adapter")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := C.kano_go_count_chat(a.ptr, data, C.size_t(n))
	if r.status != C.KANO_STATUS_OK {
		return ChatCount{}, lastError(r.status) // on the thread that failed
	}
	// r is Go memory holding C pointers only (reasons, detail), so it may be passed to C.
	defer C.kano_chat_count_free(&r.count)
	c := ChatCount{
		Total:        uint64(r.count.total),
		LowerBound:   uint64(r.count.lower_bound),
		UpperBound:   uint64(r.count.upper_bound),
		Messages:     make([]uint64, int(r.count.message_count)),
		Tools:        uint64(r.count.tools),
		ReplyPriming: uint64(r.count.reply_priming),
		IsExact:      bool(r.count.is_exact),
		Method:       methodName(r.count.method),
	}
	if len(c.Messages) > 0 {
		status := C.kano_go_chat_messages(&r.count, (*C.uint64_t)(unsafe.Pointer(&c.Messages[0])))
		if status != C.KANO_STATUS_OK {
			return ChatCount{}, lastError(status)
		}
	}
	if r.count.reasons != nil {
		if reasons := C.GoString(r.count.reasons); reasons != "" {
			c.Reasons = strings.Split(reasons, "\n")
		}
	}
	return c, nil
}
