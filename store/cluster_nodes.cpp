#include "store/cluster_nodes.h"

#include <algorithm>
#include <thread>

namespace quotamilter::store {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int quick_redirections = 3;
constexpr int max_redirections = 30;
constexpr std::chrono::milliseconds tryagain_pause{10};

std::string address_text(const RedisAddress& a) { return a.host + ":" + std::to_string(a.port); }

}  // namespace

ClusterNodes::ClusterNodes(RedisTopology topology, std::chrono::milliseconds timeout,
                           std::size_t pool_size)
    : topology_(std::move(topology)), timeout_(timeout), pool_size_(pool_size) {
    owner_.fill(no_owner);
    for (const auto& seed : topology_.seeds) node_index(seed);
}

std::size_t ClusterNodes::node_index(const RedisAddress& address) {
    for (std::size_t i = 0; i < nodes_.size(); ++i)
        if (nodes_[i].address == address) return i;
    nodes_.push_back({address, std::make_shared<RedisPool>(at_address(topology_.endpoint, address),
                                                          timeout_, pool_size_)});
    return nodes_.size() - 1;
}

std::shared_ptr<RedisPool> ClusterNodes::owner_of(std::uint16_t slot, RedisAddress* address) {
    std::lock_guard lock(mutex_);
    const int i = owner_[slot];
    if (i == no_owner) return nullptr;
    if (address) *address = nodes_[static_cast<std::size_t>(i)].address;
    return nodes_[static_cast<std::size_t>(i)].pool;
}

std::shared_ptr<RedisPool> ClusterNodes::pool_at(const RedisAddress& address) {
    std::lock_guard lock(mutex_);
    return nodes_[node_index(address)].pool;
}

bool ClusterNodes::refresh(Deadline deadline, std::string& error) {
    std::unique_lock refreshing(refreshing_, std::defer_lock);
    if (!refreshing.try_lock_until(deadline)) {
        error = "Redis Cluster: timed out waiting for another thread's slot map reload";
        return false;
    }
    if (Clock::now() < next_refresh_) {
        std::lock_guard lock(mutex_);
        if (!map_loaded_) error = last_refresh_error_;
        return map_loaded_;
    }
    next_refresh_ = Clock::now() + min_refresh_interval;
    std::vector<Node> candidates;
    {
        std::lock_guard lock(mutex_);
        candidates = nodes_;
    }
    // A dead node may take part of the time only: the next one gets the rest.
    const auto share = std::max(timeout_ / 2, std::chrono::milliseconds(50));
    const std::vector<RedisCommand> query{{"CLUSTER", "SLOTS"}};
    std::string errors;
    for (const auto& node : candidates) {
        if (Clock::now() >= deadline) break;
        std::vector<ReplyPtr> replies;
        std::string why;
        if (node.pool->run(query, replies, std::min(deadline, Clock::now() + share), why)) {
            auto ranges = cluster::parse_cluster_slots(replies[0].get(), node.address.host);
            if (ranges && !ranges->empty()) {
                std::lock_guard lock(mutex_);
                owner_.fill(no_owner);
                for (const auto& range : *ranges) {
                    const int index = static_cast<int>(node_index(range.master));
                    for (std::uint32_t s = range.first; s <= range.last; ++s) owner_[s] = index;
                }
                map_loaded_ = true;
                return true;
            }
            why = replies[0]->type == REDIS_REPLY_ERROR ? reply_text(replies[0].get())
                                                          : "no slot map in the reply";
        }
        errors += (errors.empty() ? "" : "; ") + address_text(node.address) + ": " + why;
    }
    last_refresh_error_ = "Redis Cluster: no slot map (" + (errors.empty() ? "timed out" : errors) + ")";
    std::lock_guard lock(mutex_);
    if (!map_loaded_) error = last_refresh_error_;
    return map_loaded_;
}

std::shared_ptr<RedisPool> ClusterNodes::master_of(std::uint16_t slot, Deadline deadline,
                                                    std::string& error) {
    if (auto pool = owner_of(slot, nullptr)) return pool;
    if (!refresh(deadline, error)) return nullptr;
    auto pool = owner_of(slot, nullptr);
    if (!pool) error = "Redis Cluster: no master serves slot " + std::to_string(slot);
    return pool;
}

bool ClusterNodes::masters(std::vector<std::shared_ptr<RedisPool>>& pools, Deadline deadline,
                           std::string& error) {
    bool loaded = false;
    {
        std::lock_guard lock(mutex_);
        loaded = map_loaded_;
    }
    if (!loaded && !refresh(deadline, error)) return false;
    std::lock_guard lock(mutex_);
    std::vector<int> seen;
    for (int index : owner_)
        if (index != no_owner && std::find(seen.begin(), seen.end(), index) == seen.end()) {
            seen.push_back(index);
            pools.push_back(nodes_[static_cast<std::size_t>(index)].pool);
        }
    return true;
}

std::shared_ptr<RedisPool> ClusterNodes::pool_for_try(std::uint16_t slot, const std::optional<RedisAddress>& ask_target,
                                                      RedisAddress& address, Deadline deadline, std::string& error) {
    if (ask_target) {
        address = *ask_target;
        return pool_at(address);
    }
    if (auto pool = owner_of(slot, &address)) return pool;
    if (!refresh(deadline, error)) return nullptr;
    if (auto pool = owner_of(slot, &address)) return pool;
    error = "Redis Cluster: no master serves slot " + std::to_string(slot);
    return nullptr;
}

bool ClusterNodes::follow_redirect(std::uint16_t slot, const std::string& text, int& redirections,
                                   std::optional<RedisAddress>& ask_target, Deadline deadline, std::string& error) {
    if (text.starts_with("TRYAGAIN")) {
        // A multi-key command while its keys are split by a migration:
        // wait a little for MIGRATE to move the rest.
        std::this_thread::sleep_for(std::min<Clock::duration>(tryagain_pause, deadline - Clock::now()));
        return true;
    }
    if (++redirections > max_redirections) {
        error = "Redis Cluster: too many redirections for slot " + std::to_string(slot) + " (" + text + ")";
        return false;
    }
    // While a migration ends, the nodes learn the slot's new owner one by
    // one: a MOVED may point back and forth for a moment. Beyond the
    // first hops, pause before following (still within the deadline).
    if (redirections > quick_redirections)
        std::this_thread::sleep_for(std::min<Clock::duration>(tryagain_pause, deadline - Clock::now()));
    const auto target = cluster::redirect_address(text);
    if (!target) {
        error = "Redis Cluster: cannot parse '" + text + "'";
        return false;
    }
    if (text.starts_with("ASK ")) {
        ask_target = target;
    } else {  // MOVED: the slot has a new owner for good
        std::lock_guard lock(mutex_);
        owner_[slot] = static_cast<int>(node_index(*target));
    }
    return true;
}

bool ClusterNodes::run_in_slot(std::uint16_t slot, std::span<const RedisCommand> commands,
                               std::vector<ReplyPtr>& replies, Deadline deadline,
                               std::string& error) {
    std::optional<RedisAddress> ask_target;  // set by an ASK: the next try goes there, once
    int redirections = 0;
    while (Clock::now() < deadline) {
        RedisAddress address;
        std::shared_ptr<RedisPool> pool = pool_for_try(slot, ask_target, address, deadline, error);
        if (!pool) return false;
        std::vector<RedisCommand> asking_batch;
        std::span<const RedisCommand> batch = commands;
        if (ask_target) {
            for (const auto& command : commands) {
                asking_batch.push_back({"ASKING"});
                asking_batch.push_back(command);
            }
            batch = asking_batch;
        }
        const bool was_asking = ask_target.has_value();
        ask_target.reset();
        std::vector<ReplyPtr> raw;
        if (!pool->run(batch, raw, deadline, error)) {
            if (was_asking) return false;
            // The node may have failed over: reload the map; try again if
            // the slot has a new master.
            std::string why;
            refresh(deadline, why);
            RedisAddress now_at;
            if (owner_of(slot, &now_at) && !(now_at == address) && ++redirections <= max_redirections)
                continue;
            return false;
        }
        replies.clear();
        for (std::size_t i = was_asking ? 1 : 0; i < raw.size(); i += was_asking ? 2 : 1)
            replies.push_back(std::move(raw[i]));

        const redisReply* redirect = nullptr;
        for (const auto& r : replies)
            if (is_error_reply(r.get(), "MOVED ") || is_error_reply(r.get(), "ASK ") ||
                is_error_reply(r.get(), "TRYAGAIN")) {
                redirect = r.get();
                break;
            }
        if (!redirect) return true;
        if (!follow_redirect(slot, reply_text(redirect), redirections, ask_target, deadline, error)) return false;
    }
    if (error.empty()) error = "Redis Cluster: timed out (slot " + std::to_string(slot) + ")";
    return false;
}

}  // namespace quotamilter::store
