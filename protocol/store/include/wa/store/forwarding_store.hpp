// A Store that forwards every call to another one: the base for decorators
// (fault injection and timing in tests, instrumentation) that override only
// the calls they care about.
#pragma once

#include "wa/store/store.hpp"

namespace wa::store {

class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(Store& inner) : inner_(inner) {}

  Status transaction(Durability durability, const std::function<Status()>& fn) override {
    return inner_.transaction(durability, fn);
  }
  Status savepoint(const std::function<Status()>& fn) override { return inner_.savepoint(fn); }
  Result<std::optional<Bytes>> get_credential(std::string_view name) override { return inner_.get_credential(name); }
  Status put_credential(std::string_view name, ByteView value) override { return inner_.put_credential(name, value); }
  Status delete_credential(std::string_view name) override { return inner_.delete_credential(name); }
  Result<std::optional<PreKey>> load_prekey(uint32_t id) override { return inner_.load_prekey(id); }
  Status store_prekey(const PreKey& key) override { return inner_.store_prekey(key); }
  Result<bool> contains_prekey(uint32_t id) override { return inner_.contains_prekey(id); }
  Status remove_prekey(uint32_t id) override { return inner_.remove_prekey(id); }
  Result<std::vector<PreKey>> prekeys_not_uploaded(size_t limit) override { return inner_.prekeys_not_uploaded(limit); }
  Status mark_prekeys_uploaded(const std::vector<uint32_t>& ids) override { return inner_.mark_prekeys_uploaded(ids); }
  Result<size_t> count_prekeys(bool uploaded_only) override { return inner_.count_prekeys(uploaded_only); }
  Result<std::optional<SignedPreKey>> load_signed_prekey(uint32_t id) override { return inner_.load_signed_prekey(id); }
  Status store_signed_prekey(const SignedPreKey& key) override { return inner_.store_signed_prekey(key); }
  Result<bool> contains_signed_prekey(uint32_t id) override { return inner_.contains_signed_prekey(id); }
  Status remove_signed_prekey(uint32_t id) override { return inner_.remove_signed_prekey(id); }
  Result<std::optional<Bytes>> load_session(const Address& addr) override { return inner_.load_session(addr); }
  Status store_session(const Address& addr, ByteView record) override { return inner_.store_session(addr, record); }
  Result<bool> contains_session(const Address& addr) override { return inner_.contains_session(addr); }
  Result<bool> delete_session(const Address& addr) override { return inner_.delete_session(addr); }
  Result<size_t> delete_all_sessions(std::string_view name) override { return inner_.delete_all_sessions(name); }
  Result<std::vector<uint32_t>> session_devices(std::string_view name) override { return inner_.session_devices(name); }
  Result<std::optional<Bytes>> load_sender_key(std::string_view group, const Address& sender) override {
    return inner_.load_sender_key(group, sender);
  }
  Status store_sender_key(std::string_view group, const Address& sender, ByteView record) override {
    return inner_.store_sender_key(group, sender, record);
  }
  Status delete_sender_key(std::string_view group, const Address& sender) override {
    return inner_.delete_sender_key(group, sender);
  }
  Result<std::optional<Bytes>> load_identity(const Address& addr) override { return inner_.load_identity(addr); }
  Result<IdentityStatus> check_identity(const Address& addr, ByteView key) override {
    return inner_.check_identity(addr, key);
  }
  Result<IdentityStatus> save_identity(const Address& addr, ByteView key) override {
    return inner_.save_identity(addr, key);
  }
  Status replace_identity(const Address& addr, ByteView key) override { return inner_.replace_identity(addr, key); }
  Status delete_identity(const Address& addr) override { return inner_.delete_identity(addr); }
  Result<std::optional<DeviceList>> get_device_list(std::string_view user) override {
    return inner_.get_device_list(user);
  }
  Status put_device_list(std::string_view user, const DeviceList& list) override {
    return inner_.put_device_list(user, list);
  }
  Status delete_device_list(std::string_view user) override { return inner_.delete_device_list(user); }
  Status put_lid_mapping(std::string_view pn_user, std::string_view lid_user) override {
    return inner_.put_lid_mapping(pn_user, lid_user);
  }
  Result<std::optional<std::string>> lid_for_pn(std::string_view pn_user) override {
    return inner_.lid_for_pn(pn_user);
  }
  Result<std::optional<std::string>> pn_for_lid(std::string_view lid_user) override {
    return inner_.pn_for_lid(lid_user);
  }
  Result<InboxPut> inbox_put(const InboxEntry& entry) override { return inner_.inbox_put(entry); }
  Result<std::vector<InboxEntry>> inbox_since(int64_t after_seq, size_t limit) override {
    return inner_.inbox_since(after_seq, limit);
  }
  Status inbox_mark_acked(int64_t seq) override { return inner_.inbox_mark_acked(seq); }
  Result<std::vector<InboxEntry>> inbox_unacked(size_t limit) override { return inner_.inbox_unacked(limit); }
  Result<size_t> inbox_prune(int64_t up_to_seq) override { return inner_.inbox_prune(up_to_seq); }
  Result<size_t> inbox_retain(int64_t older_than_ts, int64_t keep_last) override {
    return inner_.inbox_retain(older_than_ts, keep_last);
  }
  Result<int64_t> inbox_last_seq() override { return inner_.inbox_last_seq(); }
  Result<std::optional<int64_t>> inbox_find(std::string_view msg_id, std::string_view sender) override {
    return inner_.inbox_find(msg_id, sender);
  }
  Result<std::vector<InboxEntry>> inbox_messages(std::string_view msg_id, std::string_view chat) override {
    return inner_.inbox_messages(msg_id, chat);
  }
  Status inbox_patch(int64_t seq, std::string_view patch) override { return inner_.inbox_patch(seq, patch); }
  Status sent_put(const SentMessage& msg) override { return inner_.sent_put(msg); }
  Result<std::optional<SentMessage>> sent_get(std::string_view msg_id, std::string_view chat) override {
    return inner_.sent_get(msg_id, chat);
  }
  Result<size_t> sent_prune(int64_t older_than_ts) override { return inner_.sent_prune(older_than_ts); }
  Status media_put(const MediaRef& ref) override { return inner_.media_put(ref); }
  Result<std::optional<MediaRef>> media_get(std::string_view msg_id, std::string_view chat) override {
    return inner_.media_get(msg_id, chat);
  }
  Status media_update(const MediaRef& ref) override { return inner_.media_update(ref); }
  Result<size_t> media_prune(int64_t older_than_ts) override { return inner_.media_prune(older_than_ts); }
  Status secret_put(const MessageSecret& s) override { return inner_.secret_put(s); }
  Result<std::optional<MessageSecret>> secret_get(std::string_view msg_id, std::string_view chat) override {
    return inner_.secret_get(msg_id, chat);
  }
  Status poll_put(const PollRecord& p) override { return inner_.poll_put(p); }
  Result<std::optional<PollRecord>> poll_get(std::string_view msg_id, std::string_view chat) override {
    return inner_.poll_get(msg_id, chat);
  }
  Result<bool> poll_vote_put(const PollVoteRecord& v) override { return inner_.poll_vote_put(v); }
  Result<std::vector<PollVoteRecord>> poll_votes(std::string_view poll_id, std::string_view chat) override {
    return inner_.poll_votes(poll_id, chat);
  }

 protected:
  Store& inner_;
};

}  // namespace wa::store
