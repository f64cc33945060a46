#include "store/cluster_store.h"

#include <algorithm>
#include <functional>
#include <optional>

#include "store/cluster_nodes.h"
#include "store/counter_commands.h"
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

class ClusterStore final : public StoreBackend {
public:
    ClusterStore(const RedisTopology& topology, const StoreOptions& options, const TestHooks& hooks)
        : nodes_(topology, options.timeout, options.pool_size), commands_(options, hooks) {}

    Decision check(std::span<const CounterRequest> requests) override {
        return no_throw<Decision>([&] { return check_slots(requests, commands_.deadline()); });
    }

    Decision charge(std::span<const CounterRequest> requests) override {
        return no_throw<Decision>([&] { return charge_slots(requests, nullptr); });
    }

    Decision charge_with_receipt(std::span<const CounterRequest> requests,
                                 ChargeReceipt& receipt) override {
        return no_throw<Decision>([&] { return charge_slots(requests, &receipt); });
    }

    bool refund(const ChargeReceipt& receipt) override {
        return no_throw<bool>([&] {
            std::string error;
            return refund_entries(receipt.entries, commands_.deadline(), error);
        });
    }

    StatusResult counters_of(const std::string& tracked_value) override {
        return no_throw<StatusResult>([&] {
            return on_masters<StatusResult>([&](std::span<RedisLink* const> masters) {
                return commands_.counters_of(masters, tracked_value);
            });
        });
    }

    StatusResult most_loaded(std::size_t max) override {
        return no_throw<StatusResult>([&] {
            return on_masters<StatusResult>([&](std::span<RedisLink* const> masters) {
                return commands_.most_loaded(masters, max);
            });
        });
    }

    ResetResult reset(const std::string& tracked_value,
                      const std::optional<std::string>& policy) override {
        return no_throw<ResetResult>([&] {
            return on_masters<ResetResult>([&](std::span<RedisLink* const> masters) {
                return commands_.reset(masters, tracked_value, policy);
            });
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

    Decision decide_in(const SlotRequests& group, bool charge, Deadline until,
                       ChargeReceipt* receipt = nullptr) {
        ClusterNodes::SlotLink link(nodes_, group.slot);
        return commands_.decide(link, group.requests, charge, until, receipt);
    }

    // Every slot's decision, asked of every node at once: one write per
    // node (the slots a node serves share it, one script each, on one
    // pooled connection), then the replies are read, so that a message over
    // several slots costs about one round trip. Each slot's script is still
    // atomic on its own. A slot whose reply is a redirection (MOVED, ASK,
    // TRYAGAIN) or NOSCRIPT, or whose node could not be reached, is asked
    // again through the per-slot path (run_in_slot, eval_scripts), which
    // follows redirections and reloads the slot map: as if it had been sent
    // a moment later. A call that may have been applied before its
    // connection failed is asked again only where run_in_slot would retry
    // it anyway (the slot moved to another master). An admitted charge
    // fills receipts[k] for groups[k] when `receipts` is given.
    std::vector<Decision> decide_all(const std::vector<SlotRequests>& groups, bool charge,
                                     Deadline until, std::vector<ChargeReceipt>* receipts = nullptr) {
        auto receipt_of = [&](std::size_t k) { return receipts ? &(*receipts)[k] : nullptr; };
        std::vector<Decision> decisions(groups.size());
        std::vector<bool> again(groups.size(), true);
        struct NodeBatch {
            std::shared_ptr<RedisPool> pool;
            std::vector<std::size_t> groups;  // indices into `groups`, in send order
            std::vector<RedisCommand> commands;
        };
        std::vector<NodeBatch> batches;
        for (std::size_t k = 0; k < groups.size(); ++k) {
            std::string error;
            auto command = commands_.decide_command(groups[k].requests, charge, error);
            if (!command) {
                decisions[k].error = std::move(error);
                again[k] = false;
                continue;
            }
            auto pool = nodes_.master_of(groups[k].slot, until, error);
            if (!pool) continue;  // the per-slot path reports why
            auto batch = std::find_if(batches.begin(), batches.end(),
                                      [&](const NodeBatch& b) { return b.pool == pool; });
            if (batch == batches.end()) batch = batches.insert(batches.end(), NodeBatch{pool, {}, {}});
            batch->groups.push_back(k);
            batch->commands.push_back(std::move(*command));
        }
        // Every thread takes its connections in one order (see Lease).
        std::sort(batches.begin(), batches.end(), [](const NodeBatch& a, const NodeBatch& b) {
            return std::less<RedisPool*>()(a.pool.get(), b.pool.get());
        });
        std::vector<std::optional<RedisPool::Lease>> leases;  // one per batch
        leases.reserve(batches.size());
        for (auto& batch : batches) {
            std::string error;
            auto& lease = leases.emplace_back(batch.pool->lease(until, error));
            if (lease && !lease->send(batch.commands, error)) lease.reset();
        }
        for (std::size_t b = 0; b < batches.size(); ++b) {
            const auto& batch = batches[b];
            auto& lease = leases[b];
            if (!lease) continue;
            std::vector<ReplyPtr> replies;
            std::string error;
            if (lease->receive(replies, error)) {
                for (std::size_t i = 0; i < batch.groups.size(); ++i) {
                    const redisReply* r = replies[i].get();
                    if (is_error_reply(r, "MOVED ") || is_error_reply(r, "ASK ") ||
                        is_error_reply(r, "TRYAGAIN") || is_error_reply(r, "NOSCRIPT"))
                        continue;
                    const std::size_t k = batch.groups[i];
                    decisions[k] = commands_.decide_reply(r, groups[k].requests, charge, receipt_of(k));
                    again[k] = false;
                }
            }
            lease.reset();  // back to the pool before any per-slot call
        }
        for (std::size_t k = 0; k < groups.size(); ++k)
            if (again[k]) decisions[k] = decide_in(groups[k], charge, until, receipt_of(k));
        return decisions;
    }

    // Checks every slot (the first error in slot order wins) and merges the refusals.
    Decision check_slots(std::span<const CounterRequest> requests, Deadline until) {
        const auto groups = by_slot(requests);
        if (groups.size() == 1) return decide_in(groups[0], false, until);
        const auto decisions = decide_all(groups, false, until);
        RefusalMerger refusals;
        for (std::size_t k = 0; k < groups.size(); ++k) {
            if (decisions[k].outcome == Outcome::store_error) return decisions[k];
            if (decisions[k].outcome == Outcome::refused) refusals.add(decisions[k], groups[k]);
        }
        if (refusals.any()) return refusals.result();
        Decision admitted;
        admitted.outcome = Outcome::admitted;
        return admitted;
    }

    // Every slot at once (decide_all); if any refuses or fails, the slots
    // that admitted are refunded, whichever they are. The charges get 3/4
    // of the timeout, so the refunds always have at least the last quarter:
    // the whole call stays within the timeout. `receipt`, when given, gets
    // what an admitted charge charged, in request order.
    Decision charge_slots(std::span<const CounterRequest> requests, ChargeReceipt* receipt) {
        if (receipt) receipt->entries.clear();
        const auto groups = by_slot(requests);
        const auto start = Clock::now();
        if (groups.size() == 1) return decide_in(groups[0], true, start + commands_.timeout(), receipt);
        if (groups.empty()) {
            Decision d;
            d.outcome = Outcome::admitted;
            return d;
        }
        const Deadline charge_until = start + commands_.timeout() * 3 / 4;
        const Deadline refund_until = start + commands_.timeout();
        std::vector<ChargeReceipt> receipts(groups.size());
        auto decisions = decide_all(groups, true, charge_until, &receipts);

        std::vector<std::pair<std::size_t, ChargeReceipt::Entry>> charged;  // (request index, entry)
        std::optional<std::size_t> failed;                                  // first store_error
        RefusalMerger refusals;
        for (std::size_t k = 0; k < groups.size(); ++k) {
            Decision& d = decisions[k];
            if (d.outcome == Outcome::admitted) {
                // decide() lists receipt entries in the group's request order, skipping cost 0.
                auto& entries = receipts[k].entries;
                std::size_t e = 0;
                for (std::size_t j = 0; j < groups[k].requests.size(); ++j)
                    if (groups[k].requests[j].cost > 0 && e < entries.size())
                        charged.emplace_back(groups[k].indices[j], std::move(entries[e++]));
            } else if (d.outcome == Outcome::refused) {
                refusals.add(d, groups[k]);
            } else if (!failed) {
                failed = k;
            }
        }
        if (!failed && !refusals.any()) {
            Decision admitted;
            admitted.outcome = Outcome::admitted;
            std::sort(charged.begin(), charged.end(),
                      [](const auto& a, const auto& b) { return a.first < b.first; });
            if (receipt)
                for (auto& c : charged) receipt->entries.push_back(std::move(c.second));
            return admitted;
        }
        std::vector<ChargeReceipt::Entry> undo;
        for (auto& c : charged) undo.push_back(std::move(c.second));
        std::string refund_error;
        if (!refund_entries(undo, refund_until, refund_error))
            refund_error = "refund of the slots charged (the units stay counted until they age out): " +
                           refund_error;
        // A failure wins over a refusal, as in check().
        Decision result = failed ? std::move(decisions[*failed]) : refusals.result();
        if (!refund_error.empty())
            result.error += (result.error.empty() ? "" : "; ") + refund_error;
        return result;
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

    // `status` or `reset` over every master (a failure of any is the answer's).
    template <typename Result, typename Ask>
    Result on_masters(Ask&& ask) {
        std::vector<std::shared_ptr<RedisPool>> masters;
        std::string error;
        if (!nodes_.masters(masters, commands_.deadline(), error)) {
            Result failed;
            failed.error = std::move(error);
            return failed;
        }
        std::vector<RedisLink*> links;
        for (const auto& m : masters) links.push_back(m.get());
        return ask(std::span<RedisLink* const>(links));
    }

    ClusterNodes nodes_;
    CounterCommands commands_;
};

}  // namespace

std::unique_ptr<StoreBackend> make_cluster_store(const RedisTopology& topology,
                                                 const StoreOptions& options, const TestHooks& hooks) {
    return std::make_unique<ClusterStore>(topology, options, hooks);
}

}  // namespace quotamilter::store
