#include "wa/message/addons.hpp"

#include "wa/message/msgsecret.hpp"
#include "wa/message/poll.hpp"
#include "wa/proto/message.pb.h"

namespace wa::message {

Status record_addons(store::Store& st, const std::string& id, const std::string& chat, const std::string& sender,
                     const proto::Message& m, int64_t ts) {
  if (!m.has_messagecontextinfo() || m.messagecontextinfo().messagesecret().size() != kMessageSecretBytes) return {};
  const std::string& secret = m.messagecontextinfo().messagesecret();
  WA_TRY(st.secret_put(store::MessageSecret{id, chat, sender, Bytes(secret.begin(), secret.end()), ts}));
  if (auto poll = find_poll(m))
    WA_TRY(st.poll_put(store::PollRecord{id, chat, sender, poll->spec.name, poll->spec.options, poll->spec.selectable, ts}));
  return {};
}

Status record_addons(store::Store& st, const std::string& id, const std::string& chat, const std::string& sender,
                     ByteView serialized, int64_t ts) {
  proto::Message m;
  if (!m.ParseFromArray(serialized.data(), static_cast<int>(serialized.size()))) return {};
  return record_addons(st, id, chat, sender, m, ts);
}

}  // namespace wa::message
