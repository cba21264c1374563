#include "actors/compliance_actor.hpp"

#include <algorithm>
#include <exception>

#include "base/log.hpp"
#include "compliance/xml_adapter.hpp"

namespace pchat {

namespace {

using self_ptr = compliance_actor::stateful_pointer<compliance_state>;
using compliance::store_failure_policy;

void note_failure(self_ptr self, const char* what, const storage::status& st) {
  self->state.stats.last_error = std::string{what} + ": " + st.message;
  log::line(log::level::error, "compliance") << what << " failed: " << st.message;
}

// One group commit of everything held. On failure, what cannot wait is answered now: archive requests under
// policy refuse, and anything beyond hold_max; the rest stays held for the next attempt.
void commit(self_ptr self) {
  auto& st = self->state;
  st.flush_queued = false;
  if (st.held.empty())
    return;
  auto status = st.queue->enqueue(st.held);
  if (status.ok()) {
    st.store_ok = true;
    st.stats.durable += st.held.size();
    st.held.clear();
    for (auto& w : st.waiting)
      w.second.deliver(true);
    st.waiting.clear();
    return;
  }
  st.store_ok = false;
  ++st.stats.store_failures;
  note_failure(self, "queue write", status);
  const bool refuse = st.opts.on_store_failure == store_failure_policy::refuse;
  std::vector<bool> drop(st.held.size(), false);
  for (auto& [i, rp] : st.waiting) {
    if (refuse || i >= st.opts.hold_max) {
      drop[i] = true;
      ++st.stats.refused;
      rp.deliver(make_error(pchat_errc::store_failed, "compliance queue unavailable: " + status.message));
    } else {
      rp.deliver(false);
    }
  }
  st.waiting.clear();
  std::vector<compliance::event> kept;
  for (std::size_t i = 0; i < st.held.size(); ++i) {
    if (drop[i])
      continue;
    if (kept.size() < st.opts.hold_max)
      kept.push_back(std::move(st.held[i]));
    else
      ++st.stats.dropped;
  }
  st.held = std::move(kept);
}

void add(self_ptr self, compliance::event&& e) {
  auto& st = self->state;
  ++st.stats.recorded;
  st.held.push_back(std::move(e));
  if (!st.flush_queued) {
    st.flush_queued = true;
    self->send(self, flush_atom::value);
  }
}

void schedule(self_ptr self, std::chrono::milliseconds delay) {
  auto gen = ++self->state.timer;
  if (delay.count() == 0)
    self->send(self, run_atom::value, gen);
  else
    self->delayed_send(self, delay, run_atom::value, gen);
}

enum class run_result { idle, more, failed };

// One batch through the adapter.
run_result run_batch(self_ptr self) {
  auto& st = self->state;
  commit(self);
  compliance::batch b;
  if (auto s = st.queue->take(st.opts.batch_max, b); !s.ok()) {
    note_failure(self, "queue take", s);
    return run_result::failed;
  }
  if (b.empty())
    return run_result::idle;
  storage::status written;
  try {
    written = st.adapter->write(b);
  } catch (const std::exception& e) {
    written = {storage::errc::io_error, e.what()};
  }
  if (!written.ok()) {
    ++st.stats.adapter_failures;
    note_failure(self, ("adapter, batch " + std::to_string(b.id)).c_str(), written);
    return run_result::failed;
  }
  if (auto s = st.queue->done(b.id); !s.ok()) {
    // The output exists; the batch is rewritten (same names, same bytes) on the next run.
    note_failure(self, "queue done", s);
    return run_result::failed;
  }
  ++st.stats.batches;
  st.stats.archived += b.events.size();
  log::line(log::level::debug, "compliance") << "batch " << b.id << " archived events=" << b.events.size();
  return st.queue->counts().pending > 0 ? run_result::more : run_result::idle;
}

// Next run: at once while batches remain, after the backoff after a failure, else after RunInterval.
void after_run(self_ptr self, run_result r) {
  auto& st = self->state;
  switch (r) {
  case run_result::more:
    st.backoff = std::chrono::milliseconds{0};
    schedule(self, st.backoff);
    break;
  case run_result::idle:
    st.backoff = std::chrono::milliseconds{0};
    schedule(self, st.opts.run_interval);
    break;
  case run_result::failed:
    st.backoff = st.backoff.count() == 0 ? st.opts.retry_min : std::min(st.backoff * 2, st.opts.retry_max);
    schedule(self, st.backoff);
    break;
  }
}

compliance_stats stats_of(const compliance_state& st) {
  auto s = st.stats;
  s.pending = st.queue->counts().pending;
  s.held = st.held.size();
  s.degraded = !st.store_ok;
  s.accepting =
      st.opts.on_store_failure == store_failure_policy::refuse ? st.store_ok : st.held.size() < st.opts.hold_max;
  s.retry_ms = st.backoff.count();
  return s;
}

} // namespace

compliance_actor::behavior_type compliance_service(self_ptr self, compliance::compliance_options opts,
                                                   std::shared_ptr<compliance::queue> queue,
                                                   std::shared_ptr<compliance::adapter> adapter) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.queue = std::move(queue);
  st.adapter = std::move(adapter);
  schedule(self, st.opts.run_interval);
  return {
      [=](record_atom, compliance::event& e) { add(self, std::move(e)); },
      [=](archive_atom, compliance::event& e) -> caf::result<bool> {
        auto rp = self->make_response_promise<bool>();
        self->state.waiting.emplace_back(self->state.held.size(), rp);
        add(self, std::move(e));
        return rp;
      },
      [=](flush_atom) { commit(self); },
      [=](run_atom, std::uint64_t gen) {
        if (gen == self->state.timer)
          after_run(self, run_batch(self));
      },
      [=](drain_atom) -> compliance_stats {
        auto r = run_batch(self);
        while (r == run_result::more)
          r = run_batch(self);
        after_run(self, r);
        return stats_of(self->state);
      },
      [=](stats_atom) -> compliance_stats { return stats_of(self->state); },
      [=](status_atom) -> bool { return stats_of(self->state).accepting; },
  };
}

compliance_actor spawn_compliance(caf::actor_system& sys, compliance::compliance_options opts,
                                  std::shared_ptr<compliance::queue> queue,
                                  std::shared_ptr<compliance::adapter> adapter, bool detached) {
  if (detached)
    return sys.spawn<caf::detached>(compliance_service, std::move(opts), std::move(queue), std::move(adapter));
  return sys.spawn(compliance_service, std::move(opts), std::move(queue), std::move(adapter));
}

storage::status start_compliance(caf::actor_system& sys, const compliance::compliance_options& opts,
                                 compliance_actor& out, std::shared_ptr<compliance::queue>* queue_out) {
  std::unique_ptr<compliance::queue> opened;
  if (auto st = compliance::queue::open(opts.dir, opened); !st.ok())
    return st;
  std::shared_ptr<compliance::queue> q = std::move(opened);
  if (queue_out)
    *queue_out = q;
  out = spawn_compliance(sys, opts, std::move(q), std::make_shared<compliance::xml_adapter>(opts.xml()));
  return storage::status::success();
}

} // namespace pchat
