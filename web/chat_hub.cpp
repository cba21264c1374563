#include "web/chat_hub.hpp"

#include <algorithm>
#include <charconv>

#include "base/log.hpp"
#include "base/random.hpp"
#include "base/time.hpp"
#include "codec/xccos_commands.hpp"
#include "web/chat_json.hpp"
#include "web/stream_writer.hpp"

namespace pchat::web {

using clock = std::chrono::steady_clock;

namespace {

std::shared_ptr<const std::string> frame_of(const json& event) {
  // One JSON line per event: dump() writes no newline, and invalid UTF-8 from the store is replaced, not thrown.
  return std::make_shared<const std::string>("data: " + event.dump(-1, ' ', false, json::error_handler_t::replace) +
                                             "\n\n");
}

std::string id_line(std::uint64_t id) { return "id: " + std::to_string(id) + "\n"; }

// The seq of an acknowledged post's <chanib uri seq/>.
std::uint64_t seq_of(const xccos::node& chanib) {
  std::uint64_t v = 0;
  const auto text = chanib.attr_or("seq");
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

} // namespace

chat_hub::chat_hub(chat_limits limits) : limits_(limits) {}

chat_hub::~chat_hub() { stop(); }

void chat_hub::start(ingress_actor ingress, std::function<bool(const std::string&, bool)> still_signed_in) {
  still_signed_in_ = std::move(still_signed_in);
  {
    std::lock_guard<std::mutex> guard{mtx_};
    ingress_ = std::move(ingress);
  }
  stopping_ = false;
  sweeper_ = std::thread([this] { sweep(); });
}

void chat_hub::stop() {
  {
    std::lock_guard<std::mutex> guard{sweep_mtx_};
    stopping_ = true;
  }
  sweep_cv_.notify_all();
  if (sweeper_.joinable())
    sweeper_.join();
  // No tab opens and no command goes out from here on (both check ingress_ under mtx_).
  ingress_actor ingress;
  std::vector<std::shared_ptr<chat_tab>> open;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    ingress.swap(ingress_);
    for (auto& [id, tab] : tabs_)
      open.push_back(tab);
  }
  for (auto& tab : open) // their streams get "closed", their waiting requests an answer
    close(tab, "server stopping");
  if (ingress) // its sessions end as it exits: they part their rooms
    caf::anon_send_exit(ingress, caf::exit_reason::user_shutdown);
}

caf::expected<std::shared_ptr<chat_tab>> chat_hub::open(const std::string& user, const std::string& sign_in) {
  auto tab = std::make_shared<chat_tab>();
  tab->id = random_hex(16);
  tab->user = user;
  tab->sign_in = sign_in;
  tab->quiet_since = clock::now();
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!ingress_)
      return make_error(pchat_errc::busy, "chat is stopping");
    if (tabs_.size() >= limits_.max_tabs)
      return make_error(pchat_errc::busy, "the server has its limit of chat tabs open");
    // Per user, over all their sign-ins (signing in again is no way around it).
    auto& mine = per_user_[user];
    if (mine >= limits_.tabs_per_user)
      return make_error(pchat_errc::busy, "you have " + std::to_string(mine) + " chat tabs open; close one first");
    ++mine;
    tab->dialog = next_dialog_++;
    tabs_[tab->id] = tab;
    dialogs_[tab->dialog] = tab;
    // Under the lock, so that a close() of this tab (its closed message) cannot overtake the open. The call-id of
    // a web tab, for the session's logs: "web-" and the tab id's first eight digits.
    caf::anon_send(ingress_, open_atom::value, tab->dialog, user, "web-" + tab->id.substr(0, 8));
  }
  return tab;
}

std::shared_ptr<chat_tab> chat_hub::find(const std::string& id, const std::string& user) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = tabs_.find(id);
  if (i == tabs_.end() || i->second->user != user)
    return nullptr;
  return i->second;
}

std::shared_ptr<chat_tab> chat_hub::by_dialog(dialog_id d) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = dialogs_.find(d);
  return i == dialogs_.end() ? nullptr : i->second;
}

void chat_hub::close(const std::shared_ptr<chat_tab>& tab, const char* why) {
  ingress_actor ingress;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (tabs_.erase(tab->id) == 0)
      return; // closed already
    dialogs_.erase(tab->dialog);
    if (auto i = per_user_.find(tab->user); i != per_user_.end() && --i->second == 0)
      per_user_.erase(i);
    ingress = ingress_;
  }
  {
    std::lock_guard<std::mutex> guard{tab->mtx};
    tab->closed = true;
    if (tab->stream) {
      tab->stream->push(id_line(tab->next_event++) + *frame_of({{"type", "closed"}, {"reason", why}}));
      tab->stream->close();
      tab->stream.reset();
    }
    tab->kept.clear();
  }
  tab->answered.notify_all();
  if (ingress)
    caf::anon_send(ingress, closed_atom::value, tab->dialog);
  log::line(log::level::debug, "web") << "chat tab closed user=" << log::q(tab->user) << " dialog=" << tab->dialog
                                      << ": " << why;
}

void chat_hub::close_sign_in(const std::string& sign_in) {
  std::vector<std::shared_ptr<chat_tab>> mine;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& [id, tab] : tabs_)
      if (tab->sign_in == sign_in)
        mine.push_back(tab);
  }
  for (auto& tab : mine)
    close(tab, "signed out");
}

std::size_t chat_hub::tab_count() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return tabs_.size();
}

bool chat_hub::wait(chat_tab& tab, std::unique_lock<std::mutex>& lock, const std::function<bool()>& done) {
  return tab.answered.wait_for(lock, limits_.reply_timeout, [&] { return tab.closed || done(); });
}

caf::expected<chat_hub::envelope> chat_hub::next_envelope(const std::string& user) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!ingress_)
    return make_error(pchat_errc::page_not_found, "the server is stopping");
  // Each waiting request holds an HTTP worker: a user may not hold more than a few, nor all users all of them.
  auto& mine = waiting_[user];
  if (mine >= limits_.requests_per_user || waiting_total_ >= limits_.requests) {
    if (mine == 0)
      waiting_.erase(user);
    return make_error(pchat_errc::busy, "too many chat requests waiting; try again in a moment");
  }
  ++mine;
  ++waiting_total_;
  return envelope{this, user, "web" + std::to_string(next_envid_++), ingress_};
}

chat_hub::envelope::~envelope() {
  if (!hub)
    return;
  std::lock_guard<std::mutex> guard{hub->mtx_};
  if (auto i = hub->waiting_.find(user); i != hub->waiting_.end() && --i->second == 0)
    hub->waiting_.erase(i);
  --hub->waiting_total_;
}

caf::error chat_hub::gone(const chat_tab& tab) {
  return make_error(pchat_errc::page_not_found,
                    tab.closed ? "the chat tab was closed; open a new one" : "the server is stopping");
}

caf::expected<xccos::item> chat_hub::exchange(chat_tab& tab,
                                              const std::function<std::string(const std::string&)>& document) {
  auto sending = next_envelope(tab.user); // released (its waiting-request count too) after `lock` below
  if (!sending)
    return std::move(sending.error());
  std::unique_lock<std::mutex> lock{tab.mtx};
  if (tab.closed)
    return gone(tab);
  auto& slot = tab.replies[sending->id];
  caf::anon_send(sending->ingress, info_atom::value, tab.dialog, document(sending->id));
  wait(tab, lock, [&] { return slot.has_value(); });
  auto reply = std::move(slot);
  tab.replies.erase(sending->id);
  if (reply)
    return std::move(*reply);
  return tab.closed ? gone(tab) : make_error(pchat_errc::timed_out);
}

caf::expected<xccos::item> chat_hub::command(chat_tab& tab, std::string_view name, std::string_view data) {
  return exchange(tab, [&](const std::string& envid) { return xccos::command_document(envid, name, data); });
}

caf::expected<std::uint64_t> chat_hub::post(chat_tab& tab, const std::string& room, const std::string& text,
                                            std::optional<xccos::item>& refused) {
  // ack="true": the session answers success too, with the seq (docs/protocol.md "Acknowledged posts").
  auto reply = exchange(tab, [&](const std::string& envid) {
    return xccos::grpchat_document(envid, room, tab.user, now_ticks(), text, true);
  });
  if (!reply)
    return std::move(reply.error());
  const auto* posted = reply->code == xccos::code::ok && reply->data() ? reply->data()->child("chanib") : nullptr;
  if (!posted) {
    refused = std::move(*reply);
    return std::uint64_t{0};
  }
  return seq_of(*posted);
}

void chat_hub::add_event(chat_tab& tab, const std::shared_ptr<const std::string>& frame) {
  auto id = tab.next_event++;
  tab.kept.push_back({id, frame});
  while (tab.kept.size() > limits_.replay)
    tab.kept.pop_front();
  if (tab.stream)
    tab.stream->push(id_line(id) + *frame); // a stream that fell too far behind ends; the sweeper notices
}

bool chat_hub::attach(chat_tab& tab, std::shared_ptr<outlet> out, std::optional<std::uint64_t> last_event) {
  std::lock_guard<std::mutex> guard{tab.mtx};
  if (tab.closed) // closed since the route found it
    return false;
  if (tab.stream)
    tab.stream->close(); // one stream per tab: the newer one wins
  const std::string start = "retry: 2000\n\n"; // how long EventSource waits before it reconnects
  std::string first = start;
  std::uint64_t after = std::min(last_event.value_or(0), tab.next_event - 1);
  std::uint64_t oldest = tab.kept.empty() ? tab.next_event : tab.kept.front().id;
  bool complete = after + 1 >= oldest;
  for (const auto& e : tab.kept)
    if (complete && e.id > after) {
      first += id_line(e.id) + *e.frame;
      // More than half the stream's limit in one go would end the stream at once, and every reconnect the same way.
      complete = first.size() <= limits_.stream_queue / 2;
    }
  if (!complete) {
    // Events the client has not seen are no longer kept, or too many to replay: it must resynchronise by
    // sequence number (docs/web.md "Resuming").
    first = start + id_line(tab.next_event - 1) + *frame_of({{"type", "reset"}});
  }
  out->push(first);
  tab.stream = std::move(out);
  return true;
}

void chat_hub::deliver(dialog_id dialog, const std::string& body) {
  auto tab = by_dialog(dialog);
  if (!tab)
    return;
  auto parsed = xccos::parse(body);
  auto* env = std::get_if<xccos::envelope>(&parsed);
  if (!env)
    return; // the server's own documents always parse
  bool wake = false;
  {
    std::lock_guard<std::mutex> guard{tab->mtx};
    for (auto& item : env->items) {
      if (item.kind == xccos::item_kind::rpl) {
        if (auto r = tab->replies.find(item.cmd_envid); r != tab->replies.end()) {
          r->second = std::move(item);
          wake = true;
        }
        continue; // else an answer nobody waits for any more (timed out)
      }
      if (auto event = event_of(item))
        add_event(*tab, frame_of(*event));
    }
  }
  if (wake)
    tab->answered.notify_all();
}

void chat_hub::fanout(const std::vector<dialog_id>& dialogs, const std::string& body) {
  auto parsed = xccos::parse(body);
  auto* env = std::get_if<xccos::envelope>(&parsed);
  if (!env)
    return;
  // Each event is rendered once for every tab it goes to.
  std::vector<std::shared_ptr<const std::string>> frames;
  for (const auto& item : env->items)
    if (auto event = event_of(item))
      frames.push_back(frame_of(*event));
  if (frames.empty())
    return;
  std::vector<std::shared_ptr<chat_tab>> targets;
  targets.reserve(dialogs.size());
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto d : dialogs)
      if (auto i = dialogs_.find(d); i != dialogs_.end())
        targets.push_back(i->second);
  }
  for (auto& tab : targets) {
    std::lock_guard<std::mutex> guard{tab->mtx};
    for (const auto& frame : frames)
      add_event(*tab, frame);
  }
}

void chat_hub::ended(dialog_id dialog) {
  if (auto tab = by_dialog(dialog))
    close(tab, "ended by the server");
}

void chat_hub::sweep() {
  auto next_sign_in_check = clock::now();
  std::unique_lock<std::mutex> lock{sweep_mtx_};
  while (!stopping_) {
    sweep_cv_.wait_for(lock, std::min<std::chrono::milliseconds>(std::chrono::seconds(1), limits_.grace / 4));
    if (stopping_)
      break;
    lock.unlock();
    auto now = clock::now();
    bool check_sign_ins = now >= next_sign_in_check;
    if (check_sign_ins)
      next_sign_in_check = now + std::chrono::seconds(5);
    std::vector<std::shared_ptr<chat_tab>> all;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      all.reserve(tabs_.size());
      for (auto& [id, tab] : tabs_)
        all.push_back(tab);
    }
    std::vector<std::pair<std::shared_ptr<chat_tab>, const char*>> done;
    for (auto& tab : all) {
      bool streaming = false;
      {
        std::lock_guard<std::mutex> guard{tab->mtx};
        if (tab->stream && tab->stream->ended()) {
          tab->stream.reset();
          tab->quiet_since = now;
        }
        streaming = tab->stream != nullptr;
        if (!streaming && now - tab->quiet_since >= limits_.grace) {
          done.emplace_back(tab, "no event stream");
          continue;
        }
      }
      if (check_sign_ins && still_signed_in_ && !still_signed_in_(tab->sign_in, streaming))
        done.emplace_back(tab, "the sign-in ended");
    }
    for (auto& [tab, why] : done)
      close(tab, why);
    lock.lock();
  }
}

} // namespace pchat::web
