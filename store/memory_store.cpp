#include "store/memory_store.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <mutex>
#include <unordered_map>

#include "store/key_layout.h"
#include "store/no_throw.h"
#include "store/window_math.h"

namespace quotamilter::store {
namespace {

namespace wm = window_math;

// One (tracked value, quota): the image of one Redis hash.
struct Counter {
    std::map<std::int64_t, std::uint64_t> buckets;  // bucket start ms -> units
    std::int64_t newest = std::numeric_limits<std::int64_t>::min();
    std::int64_t w_ms = 0;
    std::int64_t g_ms = 0;
};

// Where a counter stands at one instant.
struct Standing {
    std::int64_t bucket = 0;      // current bucket start
    std::int64_t first = 0;       // oldest counted bucket start
    std::uint64_t count = 0;
};

class MemoryStore final : public StoreBackend {
public:
    MemoryStore(const StoreOptions& options, const TestHooks& hooks)
        : prefix_(options.key_prefix),
          clock_(hooks.simulated_clock_ms),
          counted_buckets_offset_(hooks.counted_buckets_offset) {}

    Decision check(std::span<const CounterRequest> requests) override {
        return no_throw<Decision>([&] { return decide(requests, false, nullptr); });
    }
    Decision charge(std::span<const CounterRequest> requests) override {
        return no_throw<Decision>([&] { return decide(requests, true, nullptr); });
    }
    Decision charge_with_receipt(std::span<const CounterRequest> requests,
                                 ChargeReceipt& receipt) override {
        return no_throw<Decision>([&] { return decide(requests, true, &receipt); });
    }
    bool refund(const ChargeReceipt& receipt) override {
        return no_throw<bool>([&] { return refund_entries(receipt); });
    }
    StatusResult counters_of(const std::string& tracked_value) override {
        return no_throw<StatusResult>([&] { return status_of(tracked_value); });
    }
    StatusResult most_loaded(std::size_t max) override {
        return no_throw<StatusResult>([&] {
            return status([](const CounterId&) { return true; }, max);
        });
    }
    ResetResult reset(const std::string& tracked_value,
                      const std::optional<std::string>& policy) override {
        return no_throw<ResetResult>([&] { return erase(tracked_value, policy); });
    }

private:
    bool refund_entries(const ChargeReceipt& receipt) {
        const std::int64_t now = now_ms();
        std::lock_guard lock(mutex_);
        for (const auto& entry : receipt.entries) {
            auto found = counters_.find(counter_key(prefix_, entry.counter));
            if (found == counters_.end()) continue;
            Counter& c = found->second;
            const Standing s = standing(c, now);
            if (entry.bucket_ms < s.first) continue;  // no longer counts anyway
            auto bucket = c.buckets.find(entry.bucket_ms);
            if (bucket == c.buckets.end()) continue;
            bucket->second -= std::min(bucket->second, entry.cost);
            if (bucket->second == 0) c.buckets.erase(bucket);
        }
        return true;
    }

    StatusResult status_of(const std::string& tracked_value) {
        const std::string wanted = key_layout::escape_tracked_value(tracked_value);
        return status([&](const CounterId& id) {
            return key_layout::escape_tracked_value(id.tracked_value) == wanted;
        }, std::numeric_limits<std::size_t>::max());
    }

    ResetResult erase(const std::string& tracked_value, const std::optional<std::string>& policy) {
        const std::string wanted = key_layout::escape_tracked_value(tracked_value);
        std::lock_guard lock(mutex_);
        std::erase_if(counters_, [&](const auto& entry) {
            const auto id = key_layout::parse_counter_key(prefix_, entry.first);
            return id && key_layout::escape_tracked_value(id->tracked_value) == wanted &&
                   (!policy || id->policy == *policy);
        });
        ResetResult done;
        done.status = AdminStatus::ok;
        return done;
    }

    std::int64_t now_ms() const {
        if (clock_) return clock_();
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }

    Standing standing(const Counter& c, std::int64_t now) const {
        Standing s;
        s.bucket = wm::current_bucket(now, c.g_ms, c.newest);
        s.first = wm::first_counted_bucket(s.bucket, c.w_ms, c.g_ms, counted_buckets_offset_);
        for (auto it = c.buckets.lower_bound(s.first); it != c.buckets.end(); ++it)
            s.count += it->second;
        return s;
    }

    // When `need` fits under `limit` again, as buckets age out oldest first.
    std::int64_t fits_at(const Counter& c, const Standing& s, std::uint64_t need,
                         std::uint64_t limit) const {
        std::uint64_t remaining = s.count;
        for (auto it = c.buckets.lower_bound(s.first); it != c.buckets.end(); ++it) {
            remaining -= it->second;
            if (remaining + need <= limit)
                return wm::bucket_stops_counting_at(it->first, s.bucket - s.first, c.g_ms);
        }
        return wm::bucket_stops_counting_at(s.bucket, s.bucket - s.first, c.g_ms);
    }

    // An admitted charge fills `receipt` when given.
    Decision decide(std::span<const CounterRequest> requests, bool charge, ChargeReceipt* receipt) {
        Decision d;
        if (receipt) receipt->entries.clear();
        for (const auto& r : requests)
            if (r.counter.window_seconds == 0) {
                d.error = "counter " + counter_key(prefix_, r.counter) + " has a zero window";
                return d;
            }
        const std::int64_t now = now_ms();
        std::lock_guard lock(mutex_);

        struct Pending {
            Counter* counter;
            Standing standing;
            std::uint64_t need = 0;
        };
        std::unordered_map<std::string, Pending> pending;
        std::vector<Pending*> of_request;
        Counter empty_counter;
        bool refused = false, never_fits = false;
        std::int64_t latest_fit = now;
        for (std::size_t i = 0; i < requests.size(); ++i) {
            const CounterRequest& r = requests[i];
            std::string key = counter_key(prefix_, r.counter);
            auto [it, inserted] = pending.try_emplace(key);
            Pending& p = it->second;
            if (inserted) {
                auto found = counters_.find(key);
                p.counter = found == counters_.end() ? nullptr : &found->second;
                Counter probe;
                probe.w_ms = wm::window_ms(r.counter.window_seconds);
                probe.g_ms = wm::bucket_width_ms(probe.w_ms);
                if (p.counter) probe.newest = p.counter->newest;
                p.standing = p.counter ? standing(*p.counter, now) : standing(probe, now);
            }
            of_request.push_back(&p);
            p.need += r.cost;
            if (p.standing.count + p.need <= r.limit) continue;
            if (!refused) {
                refused = true;
                d.refused_index = i;
                d.count = p.standing.count;
                d.limit = r.limit;
            }
            if (p.need > r.limit) {
                never_fits = true;
            } else {
                latest_fit = std::max(latest_fit, fits_at(p.counter ? *p.counter : empty_counter,
                                                          p.standing, p.need, r.limit));
            }
        }
        if (refused) {
            d.outcome = Outcome::refused;
            if (!never_fits) d.retry_after = std::chrono::milliseconds(latest_fit - now);
            return d;
        }
        d.outcome = Outcome::admitted;
        if (!charge) return d;

        for (std::size_t i = 0; i < requests.size(); ++i) {
            const CounterRequest& r = requests[i];
            if (r.cost == 0) continue;
            Pending& p = *of_request[i];
            if (!p.counter) {
                Counter& created = counters_[counter_key(prefix_, r.counter)];
                created.w_ms = wm::window_ms(r.counter.window_seconds);
                created.g_ms = wm::bucket_width_ms(created.w_ms);
                p.counter = &created;
            }
            Counter& c = *p.counter;
            // Evict what no longer counts, as the Redis script does on write.
            c.buckets.erase(c.buckets.begin(), c.buckets.lower_bound(p.standing.first));
            c.buckets[p.standing.bucket] += r.cost;
            c.newest = p.standing.bucket;
            if (receipt) receipt->entries.push_back({r.counter, p.standing.bucket, r.cost});
        }
        if (++charges_since_sweep_ >= 4096) sweep_idle(now);
        return d;
    }

    // Idle counters vanish, as Redis keys do by PEXPIRE.
    void sweep_idle(std::int64_t now) {
        charges_since_sweep_ = 0;
        std::erase_if(counters_, [&](const auto& entry) {
            const Counter& c = entry.second;
            return c.newest + c.w_ms + c.g_ms <= now;
        });
    }

    template <typename Wanted>
    StatusResult status(Wanted wanted, std::size_t max) {
        StatusResult result;
        const std::int64_t now = now_ms();
        std::lock_guard lock(mutex_);
        for (const auto& [key, c] : counters_) {
            auto id = key_layout::parse_counter_key(prefix_, key);
            if (!id || !wanted(*id)) continue;
            const Standing s = standing(c, now);
            if (s.count == 0) continue;
            CounterStatus cs{*id, s.count, std::nullopt};
            auto oldest = c.buckets.lower_bound(s.first);
            if (oldest != c.buckets.end())
                cs.next_free = std::chrono::milliseconds(
                    wm::bucket_stops_counting_at(oldest->first, s.bucket - s.first, c.g_ms) - now);
            result.counters.push_back(std::move(cs));
        }
        std::sort(result.counters.begin(), result.counters.end(),
                  [](const CounterStatus& a, const CounterStatus& b) { return a.count > b.count; });
        if (result.counters.size() > max) result.counters.resize(max);
        result.status = AdminStatus::ok;
        return result;
    }

    std::string prefix_;
    std::function<std::int64_t()> clock_;
    int counted_buckets_offset_;
    std::mutex mutex_;
    std::unordered_map<std::string, Counter> counters_;
    std::size_t charges_since_sweep_ = 0;
};

}  // namespace

std::unique_ptr<StoreBackend> make_memory_store(const StoreOptions& options, const TestHooks& hooks) {
    return std::make_unique<MemoryStore>(options, hooks);
}

}  // namespace quotamilter::store
