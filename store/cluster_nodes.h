// The nodes of a Redis Cluster (redis+cluster://…): the slot map (CLUSTER
// SLOTS, asked of any known node), one RedisPool per node, and routing of a
// slot's commands to its master, following MOVED (the map changed: remember
// the new owner of that slot) and ASK (a slot in migration: ASKING + the
// command on the target, once) and waiting out TRYAGAIN, within the caller's
// deadline. A node failing makes it reload the map, at most every
// `min_refresh_interval`.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <mutex>

#include "store/cluster_slots.h"
#include "store/redis_link.h"
#include "store/redis_pool.h"
#include "store/redis_url.h"

namespace quotamilter::store {

class ClusterNodes {
public:
    ClusterNodes(RedisTopology topology, std::chrono::milliseconds timeout, std::size_t pool_size);

    // Sends the commands of keys of one slot. A redirection re-sends the
    // whole batch: use it for one write at a time (the store does).
    bool run_in_slot(std::uint16_t slot, std::span<const RedisCommand> commands,
                     std::vector<ReplyPtr>& replies, Deadline deadline, std::string& error);

    // The pool of the master that owns `slot` per the slot map (loaded
    // first if need be), for a caller that sends to several slots at once
    // and handles no redirection itself: a reply that is one, it sends
    // again through run_in_slot. Null with `error` set if none is known.
    std::shared_ptr<RedisPool> master_of(std::uint16_t slot, Deadline deadline, std::string& error);

    // The pools of every master that owns a slot (for SCAN).
    bool masters(std::vector<std::shared_ptr<RedisPool>>& pools, Deadline deadline,
                 std::string& error);

    static constexpr std::chrono::milliseconds min_refresh_interval{100};

    // A RedisLink to the master of one slot.
    class SlotLink final : public RedisLink {
    public:
        SlotLink(ClusterNodes& nodes, std::uint16_t slot) : nodes_(nodes), slot_(slot) {}
        bool run(std::span<const RedisCommand> commands, std::vector<ReplyPtr>& replies,
                 Deadline deadline, std::string& error) override {
            return nodes_.run_in_slot(slot_, commands, replies, deadline, error);
        }

    private:
        ClusterNodes& nodes_;
        std::uint16_t slot_;
    };

private:
    struct Node {
        RedisAddress address;
        std::shared_ptr<RedisPool> pool;
    };
    static constexpr int no_owner = -1;

    // Caller holds mutex_: the index of the node at `address`, added if new.
    std::size_t node_index(const RedisAddress& address);
    std::shared_ptr<RedisPool> owner_of(std::uint16_t slot, RedisAddress* address);
    std::shared_ptr<RedisPool> pool_at(const RedisAddress& address);
    // run_in_slot's parts: the pool of this try (the ASK target, else the
    // slot's owner, refreshing the map once), and following a MOVED, ASK or
    // TRYAGAIN answer (false: give up, `error` set).
    std::shared_ptr<RedisPool> pool_for_try(std::uint16_t slot, const std::optional<RedisAddress>& ask_target,
                                            RedisAddress& address, Deadline deadline, std::string& error);
    bool follow_redirect(std::uint16_t slot, const std::string& text, int& redirections,
                         std::optional<RedisAddress>& ask_target, Deadline deadline, std::string& error);
    // Reloads the slot map from the first node that answers. True if a map
    // is loaded (now or before, when rate-limited).
    bool refresh(Deadline deadline, std::string& error);

    const RedisTopology topology_;
    const std::chrono::milliseconds timeout_;
    const std::size_t pool_size_;

    std::mutex mutex_;
    std::vector<Node> nodes_;  // every node ever seen (a handful)
    std::array<int, cluster::slot_count> owner_;  // index in nodes_, or no_owner
    bool map_loaded_ = false;

    std::timed_mutex refreshing_;  // one reload at a time; guards the fields below
    std::chrono::steady_clock::time_point next_refresh_{};
    std::string last_refresh_error_;
};

}  // namespace quotamilter::store
