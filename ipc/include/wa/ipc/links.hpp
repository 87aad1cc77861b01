// Decoders of the internal links' messages (names and fields in
// messages.hpp). Each takes the bytes as they came off the socket and
// returns a typed message or an error value (bad_message): CBOR, nesting,
// the type field and every field its handler reads are checked here, so a
// handler never meets a missing field or a wrong type. A type a decoder does
// not know is not an error (the peer may be newer): it comes back with only
// `type` and `raw` set, and the handler decides.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "wa/after_ack.hpp"
#include "wa/ipc/codec.hpp"

namespace wa::ipc::link {

// Conversation names travel in argv and as map keys.
inline constexpr size_t kMaxConversation = 256;
// JIDs in one list of done's `relay`: the devices of a group of 1,024
// members fit; the link's 4 MB message cap bounds it anyway.
inline constexpr size_t kMaxRelayList = 16384;

// connection worker -> supervisor (PAIR1, field "t").
struct FromWorker {
  std::string type;
  int64_t pid = 0;           // hello
  uint64_t rid = 0;          // reply
  json reply;                // reply: a control reply envelope (object with a boolean "ok")
  json event;                // event: an object with a string "type" (integer seq/ts if present)
  std::vector<json> events;  // events: several such events, in the order they happened
  std::string conversation;  // spawn_sender: non-empty, <= kMaxConversation, no NUL
  json raw;                  // the whole message (events: its entries moved to `events`)
};
Result<FromWorker> decode_from_worker(ByteView bytes);
// Worker -> supervisor message for events already encoded as CBOR, in
// order: {"t": "events", "events": [...]} around their bytes as they are
// (a CBOR array is its head and its items); a lone one is an "event".
Bytes encode_events(const std::vector<Bytes>& cbor_events);

// supervisor -> connection worker (PAIR1, field "t").
struct FromSupervisor {
  std::string type;
  std::string instance_dir;  // init
  json settings;             // init: an object (senders/events sub-objects with integer fields)
  uint64_t rid = 0;          // request
  std::string cmd;           // request; its arguments are read from `raw` with field<>()
  std::string conversation;  // sender_started / sender_refused / sender_exited
  int64_t pid = 0;           // sender_started / sender_exited
  std::string code;          // sender_refused
  std::string message;       // sender_refused
  int64_t exit_code = 0;     // sender_exited
  int64_t signal = 0;        // sender_exited
  json raw;
};
Result<FromSupervisor> decode_from_supervisor(ByteView bytes);

// done's `relay` (messages.hpp): the stanza the worker relays for the job,
// and what the ack then settles (message::settle_ack).
struct RelayOnAck {
  json::binary_t node;  // encoded binary node (<message>)
  AfterAck after;
};
json to_json(const RelayOnAck& r);

// sender -> connection worker (REQ/REP, field "op").
struct FromSender {
  std::string op;
  std::string conversation;  // every op
  int64_t pid = 0;           // optional on every op
  uint64_t job = 0;          // done, query
  bool ok = false;           // done
  json result;               // done with ok: an object
  std::string code;          // done without ok (default send_failed)
  std::string message;       // done without ok
  std::string what;          // query: iq | relay | ...
  std::optional<json::binary_t> node;  // query: the encoded node
  uint64_t timeout_ms = 0;   // query
  std::string id;            // query (relay): the message id; done: the id of a message whose send
                             // failed after it left (unknown_outcome)
  std::string issue_token;   // done: a contact our privacy token is due to (may be empty)
  std::optional<RelayOnAck> relay;  // done with ok: relay this, the ack is the outcome
  json raw;
};
Result<FromSender> decode_from_sender(ByteView bytes);

// connection worker -> sender (REP replies, field "op").
struct FromConnection {
  std::string op;
  uint64_t job = 0;          // job
  json payload;              // job: an object
  std::string code;          // error
  std::string message;       // error
  std::optional<json::binary_t> node;  // result of an iq query
  std::optional<json::binary_t> ack;   // result of a relay query
  json raw;
};
Result<FromConnection> decode_from_connection(ByteView bytes);

}  // namespace wa::ipc::link
