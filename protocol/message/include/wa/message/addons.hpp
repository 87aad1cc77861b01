// What the store keeps of a message for later add-ons (docs/PROTOCOL.md
// §12.4): its message secret and, for a poll, its option names. Called in
// the transaction that keeps the message (the send's encrypt commit, the
// receive path's savepoint), so a vote or an edit arriving after a crash
// still finds them.
#pragma once

#include <cstdint>
#include <string>

#include "wa/bytes.hpp"
#include "wa/result.hpp"
#include "wa/store/store.hpp"

namespace wa::proto {
class Message;
}  // namespace wa::proto

namespace wa::message {

// `sender`: the author as a non-AD user JID in the namespace the message
// used. Does nothing for a message without a secret.
Status record_addons(store::Store& st, const std::string& id, const std::string& chat, const std::string& sender,
                     const proto::Message& m, int64_t ts);
Status record_addons(store::Store& st, const std::string& id, const std::string& chat, const std::string& sender,
                     ByteView serialized, int64_t ts);

}  // namespace wa::message
