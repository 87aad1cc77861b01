// Every parser of server-sent message-layer nodes on arbitrary decoded
// nodes: usync, prekey bundles, group info, retry receipts, padding, and the
// receipt/ack builders (which echo routing attributes), and the media part of
// a decrypted message (read, rebuilt, its path replaced).
#include <cstddef>
#include <cstdint>

#include "wa/binary/codec.hpp"
#include "wa/message/group.hpp"
#include "wa/message/id.hpp"
#include "wa/message/media.hpp"
#include "wa/message/edit.hpp"
#include "wa/message/poll.hpp"
#include "wa/message/reaction.hpp"
#include "wa/message/prekeys.hpp"
#include "wa/message/receipt.hpp"
#include "wa/message/receive.hpp"
#include "wa/message/send.hpp"
#include "wa/message/usync.hpp"
#include "wa/proto/message.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  wa::ByteView in(data, size);
  (void)wa::message::unpad(in);
  (void)wa::message::summarize(in);
  (void)wa::message::media_type_of(in);
  if (auto media = wa::message::find_media(in)) (void)wa::message::build_media_message(*media, nullptr);
  (void)wa::message::with_direct_path(in, "/v/x");
  (void)wa::message::find_reaction(in);
  {
    wa::proto::Message m;
    if (m.ParseFromArray(in.data(), static_cast<int>(in.size()))) {
      (void)wa::message::find_poll(m);
      (void)wa::message::find_poll_vote(m);
      (void)wa::message::find_edit(m);
      if (auto se = wa::message::find_secret_edit(m))
        (void)wa::message::open_secret_edit(*se, wa::Bytes(32, 1), {"1@s.whatsapp.net"});
    }
  }
  auto node = wa::binary::decode(in);
  if (!node) return 0;
  wa::message::Self self;
  self.jid.user = "111";
  self.jid.device = 1;
  self.jid.server = "s.whatsapp.net";
  if (auto users = wa::message::parse_usync_devices(*node))
    for (const auto& u : *users) (void)wa::message::device_jids(u, self);
  if (auto bundles = wa::message::parse_prekey_response(*node)) (void)bundles->size();
  (void)wa::message::parse_group_info(*node);
  (void)wa::message::parse_retry_receipt(*node);
  (void)wa::message::build_delivery_receipt(*node, false);
  (void)wa::message::build_retry_receipt(*node, 1, 42);
  (void)wa::message::build_ack(*node, &self, 500);
  return 0;
}
