#include "store/cluster_store.h"

#include <algorithm>
#include <limits>

#include "store/cluster_nodes.h"
#include "store/counter_commands.h"
#include "store/key_layout.h"
#include "store/no_throw.h"

namespace quotamilter::store {
namespace {

using Clock = std::chrono::steady_clock;

// The requests of one slot, in request order, and where they came from.
struct SlotRequests {
    std::uint16_t slot = 0;
    std::vector<std::size_t> indices;  // into the message's requests
    std::vector<CounterRequest> requests;
};

// Per-slot refusals merged as one decision over the whole message: the first
// refusing request in request order names count and limit; retry_after is
// the latest of the slots' (none if any cost can never fit).
class RefusalMerger {
public:
    void add(const Decision& d, const SlotRequests& group) {
        const std::size_t index = group.indices[d.refused_index];
        if (!d.retry_after) never_ = true;
        else if (!latest_ || *d.retry_after > *latest_) latest_ = d.retry_after;
        if (!first_ || index < first_->refused_index) {
            first_ = d;
            first_->refused_index = index;
        }
    }
    bool any() const { return first_.has_value(); }
    Decision result() const {
        Decision merged = *first_;
        merged.retry_after = never_ ? std::nullopt : latest_;
        return merged;
    }

private:
    std::optional<Decision> first_;
    std::optional<std::chrono::milliseconds> latest_;
    bool never_ = false;
};

class ClusterStore final : public QuotaStore {
public:
    ClusterStore(const RedisTopology& topology, const StoreOptions& options)
        : nodes_(topology, options.timeout, options.pool_size), commands_(options) {}

    Decision check(std::span<const CounterRequest> requests) override {
        return no_throw<Decision>([&] { return check_slots(requests, commands_.deadline()); });
    }

    Decision charge(std::span<const CounterRequest> requests) override {
        return no_throw<Decision>([&] { return charge_slots(requests); });
    }

    Outcome refund(const ChargeReceipt& receipt) override {
        return no_throw<Outcome>([&] {
            std::string error;
            return refund_entries(receipt.entries, commands_.deadline(), error)
                       ? Outcome::admitted
                       : Outcome::store_error;
        });
    }

    StatusResult counters_of(const std::string& tracked_value) override {
        return no_throw<StatusResult>([&] {
            return status(key_layout::scan_pattern(commands_.prefix(), tracked_value, std::nullopt),
                          std::numeric_limits<std::size_t>::max());
        });
    }

    StatusResult most_loaded(std::size_t max) override {
        return no_throw<StatusResult>(
            [&] { return status(key_layout::glob_escape(commands_.prefix()) + "{*", max); });
    }

    Outcome reset(const std::string& tracked_value,
                  const std::optional<std::string>& policy) override {
        return no_throw<Outcome>([&] {
            std::vector<std::shared_ptr<RedisPool>> masters;
            std::string error;
            if (!nodes_.masters(masters, commands_.deadline(), error)) return Outcome::store_error;
            bool ok = true;
            for (const auto& master : masters) {
                bool truncated = false;
                ok = commands_.reset(*master, tracked_value, policy, truncated, error) && !truncated && ok;
            }
            return ok ? Outcome::admitted : Outcome::store_error;
        });
    }

private:
    std::uint16_t slot_of(const CounterId& counter) const {
        return cluster::key_slot(counter_key(commands_.prefix(), counter));
    }

    std::vector<SlotRequests> by_slot(std::span<const CounterRequest> requests) const {
        std::vector<SlotRequests> groups;
        for (std::size_t i = 0; i < requests.size(); ++i) {
            const std::uint16_t slot = slot_of(requests[i].counter);
            auto group = std::find_if(groups.begin(), groups.end(),
                                      [&](const SlotRequests& g) { return g.slot == slot; });
            if (group == groups.end()) group = groups.insert(groups.end(), SlotRequests{slot, {}, {}});
            group->indices.push_back(i);
            group->requests.push_back(requests[i]);
        }
        return groups;
    }

    Decision decide_in(const SlotRequests& group, bool charge, Deadline until) {
        ClusterNodes::SlotLink link(nodes_, group.slot);
        return commands_.decide(link, group.requests, charge, until);
    }

    // Checks every slot (first error wins) and merges the refusals.
    Decision check_slots(std::span<const CounterRequest> requests, Deadline until) {
        const auto groups = by_slot(requests);
        if (groups.size() == 1) return decide_in(groups[0], false, until);
        RefusalMerger refusals;
        for (const auto& group : groups) {
            Decision d = decide_in(group, false, until);
            if (d.outcome == Outcome::store_error) return d;
            if (d.outcome == Outcome::refused) refusals.add(d, group);
        }
        if (refusals.any()) return refusals.result();
        Decision admitted;
        admitted.outcome = Outcome::admitted;
        return admitted;
    }

    // Slot by slot; a refusal or a failure refunds the slots charged before.
    // The charges get 3/4 of the timeout, so the refunds always have at
    // least the last quarter: the whole call stays within the timeout.
    Decision charge_slots(std::span<const CounterRequest> requests) {
        const auto groups = by_slot(requests);
        const auto start = Clock::now();
        if (groups.size() == 1) return decide_in(groups[0], true, start + commands_.timeout());
        if (groups.empty()) {
            Decision d;
            d.outcome = Outcome::admitted;
            return d;
        }
        const Deadline charge_until = start + commands_.timeout() * 3 / 4;
        const Deadline refund_until = start + commands_.timeout();
        std::vector<std::pair<std::size_t, ChargeReceipt::Entry>> charged;  // (request index, entry)
        for (std::size_t k = 0; k < groups.size(); ++k) {
            Decision d = decide_in(groups[k], true, charge_until);
            if (d.outcome == Outcome::admitted) {
                // decide() lists receipt entries in the group's request order, skipping cost 0.
                std::size_t e = 0;
                for (std::size_t j = 0; j < groups[k].requests.size(); ++j)
                    if (groups[k].requests[j].cost > 0 && e < d.receipt.entries.size())
                        charged.emplace_back(groups[k].indices[j], std::move(d.receipt.entries[e++]));
                continue;
            }
            std::vector<ChargeReceipt::Entry> undo;
            for (auto& c : charged) undo.push_back(std::move(c.second));
            std::string refund_error;
            if (!refund_entries(undo, refund_until, refund_error))
                d.error += (d.error.empty() ? "" : "; ") + std::string("refund of the slots charged before failed "
                                                                       "(the units stay counted until they age out): ") +
                           refund_error;
            if (d.outcome == Outcome::refused) {
                // Report the whole message's refusal as check() would: the
                // other slots may refuse too (earlier ones: only through
                // concurrent traffic). Best effort, within the deadline.
                RefusalMerger refusals;
                refusals.add(d, groups[k]);
                for (std::size_t other = 0; other < groups.size(); ++other) {
                    if (other == k || Clock::now() >= charge_until) continue;
                    const Decision o = decide_in(groups[other], false, charge_until);
                    if (o.outcome == Outcome::refused) refusals.add(o, groups[other]);
                }
                Decision merged = refusals.result();
                merged.error = d.error;
                return merged;
            }
            return d;
        }
        Decision admitted;
        admitted.outcome = Outcome::admitted;
        std::sort(charged.begin(), charged.end(),
                  [](const auto& a, const auto& b) { return a.first < b.first; });
        for (auto& c : charged) admitted.receipt.entries.push_back(std::move(c.second));
        return admitted;
    }

    bool refund_entries(std::span<const ChargeReceipt::Entry> entries, Deadline until,
                        std::string& error) {
        std::vector<std::pair<std::uint16_t, std::vector<ChargeReceipt::Entry>>> groups;
        for (const auto& e : entries) {
            const std::uint16_t slot = slot_of(e.counter);
            auto group = std::find_if(groups.begin(), groups.end(),
                                      [&](const auto& g) { return g.first == slot; });
            if (group == groups.end()) group = groups.insert(groups.end(), {slot, {}});
            group->second.push_back(e);
        }
        bool ok = true;
        for (const auto& [slot, slot_entries] : groups) {  // every slot, even after a failure
            ClusterNodes::SlotLink link(nodes_, slot);
            std::string why;
            if (!commands_.refund(link, slot_entries, until, why)) {
                ok = false;
                error += (error.empty() ? "" : "; ") + why;
            }
        }
        return ok;
    }

    StatusResult status(const std::string& pattern, std::size_t max) {
        StatusResult result;
        std::vector<std::shared_ptr<RedisPool>> masters;
        bool ok = nodes_.masters(masters, commands_.deadline(), result.error);
        for (const auto& master : masters)
            if (ok) ok = commands_.add_status(*master, pattern, max, result);
        result.outcome = ok ? Outcome::admitted : Outcome::store_error;
        if (!ok) result.counters.clear();
        return result;
    }

    ClusterNodes nodes_;
    CounterCommands commands_;
};

}  // namespace

std::unique_ptr<QuotaStore> make_cluster_store(const RedisTopology& topology,
                                               const StoreOptions& options) {
    return std::make_unique<ClusterStore>(topology, options);
}

}  // namespace quotamilter::store
