// The control commands about contacts and the account itself, each one IQ
// or one stanza on the account's socket (no Signal state, no sender): the
// number check (usync, answers cached), profile pictures, presence, the
// block list, the about text and logout. And the stanzas the server pushes
// about them: <presence>, picture / status / account_sync notifications,
// turned into events.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "client.hpp"
#include "wa/binary/node.hpp"
#include "wa/ipc/timer.hpp"
#include "wa/message/contacts.hpp"

namespace wa::connection {

// Numbers per usync query: WhatsApp Web asks in small batches; 50 keeps one
// answer small and one slow batch from holding the rest.
inline constexpr size_t kNumberCheckBatch = 50;
// How long a number check is believed: a registered number rarely leaves,
// one that is not may join soon.
inline constexpr uint64_t kNumberCheckTtlMs = 24ull * 3600 * 1000;
inline constexpr uint64_t kNumberCheckNegativeTtlMs = 3600ull * 1000;
inline constexpr size_t kNumberCheckCacheMax = 100000;
// A profile picture the server takes (it scales it down itself).
inline constexpr size_t kMaxPictureBytes = 1 << 20;

class ContactCommands {
 public:
  using Reply = std::function<void(nlohmann::json)>;
  using Event = std::function<void(nlohmann::json)>;

  ContactCommands(uv_loop_t* loop, Client& client, std::string store_path, std::vector<std::string> media_roots,
                  Event event);

  void check_numbers(const nlohmann::json& args, Reply reply);
  void picture_get(const nlohmann::json& args, Reply reply);
  void picture_set(const nlohmann::json& args, bool remove, Reply reply);
  void presence_set(const nlohmann::json& args, Reply reply);
  void presence_subscribe(const nlohmann::json& args, Reply reply);
  void block(const nlohmann::json& args, bool block, Reply reply);
  void blocklist(Reply reply);
  void about_get(const nlohmann::json& args, Reply reply);
  void about_set(const nlohmann::json& args, Reply reply);
  // Asks the server to unlink this device; on its answer the reply leaves
  // first, then the client ends as logged out (wiping its secrets).
  void logout(Reply reply);

  // Rows of the stanza table. Notifications return false: the receive path
  // still acks them.
  void on_presence(const binary::Node& stanza);
  bool on_picture_notification(const binary::Node& n);
  bool on_about_notification(const binary::Node& n);
  bool on_account_sync(const binary::Node& n);

 private:
  struct Cached {
    message::ContactAnswer answer;
    uint64_t expires_ms = 0;
  };
  void check_batches(std::shared_ptr<std::vector<std::string>> missing, size_t from, std::function<void(Status)> done);
  // The LID (and phone number) to name in a block list change.
  void resolve_for_block(const binary::Jid& user,
                         std::function<void(Result<std::pair<binary::Jid, std::optional<binary::Jid>>>)> done);
  nlohmann::json number_json(const std::string& asked, const message::ContactAnswer& a, bool cached) const;
  uint64_t now_ms() const;

  uv_loop_t* loop_;
  Client& client_;
  std::string store_path_;
  std::vector<std::string> media_roots_;
  Event event_;
  std::map<std::string, Cached> numbers_;  // by digits
  uint64_t sid_ = 0;
  ipc::Timer logout_timer_;
};

}  // namespace wa::connection
