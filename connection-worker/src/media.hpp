// The connection worker's part of media (docs/ARCHITECTURE.md, "Media"):
// it checks paths, hands uploads and downloads to the conversation's sender
// (the slow, crash-prone work never runs on this loop), and runs the media
// retry: when the host no longer has a file, it asks the sender's phone
// through the server (a server-error receipt), waits for the mediaretry
// notification with the new path, and hands the download out again.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "client.hpp"
#include "senders.hpp"
#include "wa/contract/settings.hpp"
#include "wa/ipc/timer.hpp"
#include "wa/store/store.hpp"

namespace wa::connection {

class MediaCommands {
 public:
  using Reply = std::function<void(nlohmann::json)>;
  using Event = std::function<void(nlohmann::json)>;

  // How long the phone has to upload an expired file again.
  static constexpr uint64_t kRetryWaitMs = 30000;

  MediaCommands(uv_loop_t* loop, Client& client, SenderPool& senders, const contract::WorkerSettings& settings,
                std::string profile, std::string store_path, Event event);
  ~MediaCommands();

  // Control commands (`args`: the validated fields).
  void send_media(const nlohmann::json& args, Reply reply);
  void download(const nlohmann::json& args, Reply reply);

  // A logged message event: a media message the policy wants is downloaded
  // now, its outcome told by a media_downloaded / media_download_failed event.
  void on_event(const nlohmann::json& ev);
  // <notification type="mediaretry">: the phone's answer to our retry.
  bool on_retry_notification(const binary::Node& n);

 private:
  struct Fetch;
  void run_fetch(std::shared_ptr<Fetch> f);
  void after_fetch(std::shared_ptr<Fetch> f, nlohmann::json reply);
  void ask_phone(std::shared_ptr<Fetch> f);
  void finish(const std::shared_ptr<Fetch>& f, nlohmann::json reply);
  // The job fields every transfer carries: CA file, budget.
  nlohmann::json transfer_fields() const;
  // The profile's store, opened on first use and kept (a download touches it
  // up to four times).
  Result<store::Store*> store();

  uv_loop_t* loop_;
  Client& client_;
  SenderPool& senders_;
  const contract::WorkerSettings& settings_;
  std::string profile_;
  std::string store_path_;
  std::unique_ptr<store::Store> store_;
  Event event_;
  // Downloads waiting for the phone, by message id.
  std::map<std::string, std::shared_ptr<Fetch>> waiting_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace wa::connection
