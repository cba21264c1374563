#include "actors/store_writer.hpp"

#include <algorithm>

#include "base/log.hpp"

namespace pchat {

namespace {

storage::status flush(writer_actor::stateful_pointer<store_writer_state> self) {
  auto& st = self->state;
  st.flush_queued = false;
  if (st.batch.empty())
    return {};
  auto status = st.store->commit(st.batch, st.sync);
  ++st.batches;
  st.records += st.batch.messages.size() + st.batch.follows.size() + st.batch.unfollows.size();
  if (status.ok()) {
    for (size_t i = 0; i < st.waiting.size(); ++i)
      st.waiting[i].deliver(st.batch.messages[i].seq);
  } else {
    log::line(log::level::error, "store") << "batch of " << st.batch.messages.size() << " posts and "
                                          << st.batch.follows.size() << " follows not written: " << status.message;
    for (auto& rp : st.waiting)
      rp.deliver(make_error(pchat_errc::store_failed, status.message));
  }
  st.batch.clear();
  st.waiting.clear();
  return status;
}

void queue_flush(writer_actor::stateful_pointer<store_writer_state> self) {
  auto& st = self->state;
  if (st.batch.messages.size() + st.batch.follows.size() + st.batch.unfollows.size() >= st.max_batch) {
    flush(self);
  } else if (!st.flush_queued) {
    st.flush_queued = true;
    self->send(self, flush_atom::value);
  }
}

} // namespace

writer_actor::behavior_type store_writer(writer_actor::stateful_pointer<store_writer_state> self,
                                         std::shared_ptr<storage::store> store, bool sync) {
  self->state.store = std::move(store);
  self->state.sync = sync;
  return {
    [=](append_atom, storage::message& m) -> caf::result<std::uint64_t> {
      auto& st = self->state;
      st.batch.messages.push_back(std::move(m));
      st.waiting.push_back(self->make_response_promise<std::uint64_t>());
      auto rp = st.waiting.back();
      queue_flush(self);
      return rp;
    },
    [=](follow_atom, std::string& user, std::uint64_t room_id, bool on) {
      auto& b = self->state.batch;
      // Order matters within one batch: adds are written before removals, so a follow that a later unfollow
      // in the same batch cancels must not be written at all.
      auto key = std::make_pair(user, room_id);
      if (on) {
        b.unfollows.erase(std::remove(b.unfollows.begin(), b.unfollows.end(), key), b.unfollows.end());
        b.follows.push_back(std::move(key));
      } else {
        b.follows.erase(std::remove(b.follows.begin(), b.follows.end(), key), b.follows.end());
        b.unfollows.push_back(std::move(key));
      }
      queue_flush(self);
    },
    [=](flush_atom) { flush(self); },
    [=](commit_atom) -> caf::result<bool> {
      auto status = flush(self);
      if (!status.ok())
        return make_error(pchat_errc::store_failed, status.message);
      return true;
    },
  };
}

writer_actor spawn_store_writer(caf::actor_system& sys, std::shared_ptr<storage::store> store, bool detached,
                                bool sync) {
  if (detached)
    return sys.spawn<caf::detached>(store_writer, std::move(store), sync);
  return sys.spawn(store_writer, std::move(store), sync);
}

} // namespace pchat
