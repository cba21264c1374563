#include "actors/store_writer.hpp"

#include "actors/log.hpp"

namespace pchat {

namespace {

void flush(writer_actor::stateful_pointer<store_writer_state> self) {
  auto& st = self->state;
  st.flush_queued = false;
  if (st.batch.empty())
    return;
  auto status = st.store->append(st.batch, st.sync);
  ++st.batches;
  st.records += st.batch.size();
  if (status.ok()) {
    for (size_t i = 0; i < st.waiting.size(); ++i)
      st.waiting[i].deliver(st.batch[i].seq);
  } else {
    log::line(log::level::error, "store") << "history batch of " << st.batch.size()
                                          << " not written: " << status.message;
    for (auto& rp : st.waiting)
      rp.deliver(make_error(pchat_errc::store_failed, status.message));
  }
  st.batch.clear();
  st.waiting.clear();
}

} // namespace

writer_actor::behavior_type store_writer(writer_actor::stateful_pointer<store_writer_state> self,
                                         std::shared_ptr<storage::store> store, bool sync) {
  self->state.store = std::move(store);
  self->state.sync = sync;
  return {
    [=](append_atom, storage::message& m) -> caf::result<std::uint64_t> {
      auto& st = self->state;
      st.batch.push_back(std::move(m));
      st.waiting.push_back(self->make_response_promise<std::uint64_t>());
      auto rp = st.waiting.back();
      if (st.batch.size() >= st.max_batch) {
        flush(self);
      } else if (!st.flush_queued) {
        st.flush_queued = true;
        self->send(self, flush_atom::value);
      }
      return rp;
    },
    [=](flush_atom) { flush(self); },
  };
}

writer_actor spawn_store_writer(caf::actor_system& sys, std::shared_ptr<storage::store> store, bool detached,
                                bool sync) {
  if (detached)
    return sys.spawn<caf::detached>(store_writer, std::move(store), sync);
  return sys.spawn(store_writer, std::move(store), sync);
}

} // namespace pchat
