// Message secrets, polls and edits on the connection worker's side
// (docs/PROTOCOL.md §12.4, docs/CONTROL.md): the `poll`, `vote` and `edit`
// commands become sender jobs (like `react`), `poll_results` reads the
// profile's store; on the receive path, what a decrypted message adds to
// the store (its secret, a poll's options, a vote) and to its event.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "wa/message/receive.hpp"
#include "wa/result.hpp"
#include "wa/store/store.hpp"

namespace wa::proto {
class Message;
}  // namespace wa::proto

namespace wa::connection {

// The add-on command the connection worker answers itself: poll_results,
// read from the profile's store (poll, vote and edit are sender jobs, like
// react). One store handle, opened on first use.
class AddonCommands {
 public:
  using Reply = std::function<void(nlohmann::json)>;
  explicit AddonCommands(std::string store_path) : store_path_(std::move(store_path)) {}

  void poll_results(const nlohmann::json& args, Reply reply);

 private:
  Result<store::Store*> store();
  std::string store_path_;
  std::unique_ptr<store::Store> store_;
};

// Called by the receive path inside the message's savepoint. Every message
// that carries a secret keeps it: a vote on it or an encrypted edit of it
// may come any time later.
Status keep_message_secret(store::Store& st, const message::Incoming& in);
// After the message event `ev` is built from the parsed `content` of a
// message that is not text: turns a poll, a vote or an edit into its own
// event (`poll`, `poll_vote`, `edited`). Returns true when `ev` was made
// such an event. A vote or an encrypted edit that cannot be opened still
// becomes its event, with `error`: the message itself was received.
Result<bool> receive_addons(store::Store& st, const message::Incoming& in, const proto::Message& content,
                            nlohmann::json& ev);

}  // namespace wa::connection
