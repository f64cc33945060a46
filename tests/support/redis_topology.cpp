#include "redis_topology.h"

#include <sstream>
#include <stdexcept>
#include <thread>

namespace quotamilter::test {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        lines.push_back(line);
    }
    return lines;
}

// "field:value" of an INFO-like reply, or "".
std::string info_field(const std::string& info, const std::string& field) {
    for (const auto& line : lines_of(info))
        if (line.starts_with(field + ":")) return line.substr(field.size() + 1);
    return "";
}

// The value after `name` in a flat name/value list printed by redis-cli.
std::string value_after(const std::string& reply, const std::string& name) {
    const auto lines = lines_of(reply);
    for (std::size_t i = 0; i + 1 < lines.size(); ++i)
        if (lines[i] == name) return lines[i + 1];
    return "";
}

template <typename Ready>
void wait_until(std::chrono::seconds limit, const std::string& what, Ready&& ready) {
    const auto until = Clock::now() + limit;
    while (Clock::now() < until) {
        try {
            if (ready()) return;
        } catch (const std::exception&) {  // a redis-cli that failed: not ready yet
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw std::runtime_error("not ready within " + std::to_string(limit.count()) + " s: " + what);
}

// The arguments that make a data node require `password` (and use it
// towards its master); none for "".
std::vector<std::string> auth_args(const std::string& password) {
    if (password.empty()) return {};
    return {"--requirepass", password, "--masterauth", password};
}

std::string userinfo(const std::string& password) { return password.empty() ? "" : ":" + password + "@"; }

}  // namespace

SentinelGroup::SentinelGroup(std::string master_name, int sentinel_count, std::string password)
    : master_name_(std::move(master_name)), password_(std::move(password)) {
    // No delay before a diskless full sync: the replica is in sync at once.
    std::vector<std::string> master_args{"--repl-diskless-sync-delay", "0"};
    const auto auth = auth_args(password_);
    master_args.insert(master_args.end(), auth.begin(), auth.end());
    master_ = std::make_unique<RedisServer>(master_args);
    std::vector<std::string> replica_args{"--replicaof", "127.0.0.1", std::to_string(master_->port()),
                                          "--repl-diskless-sync-delay", "0"};
    replica_args.insert(replica_args.end(), auth.begin(), auth.end());
    replica_ = std::make_unique<RedisServer>(replica_args);
    std::string config = "sentinel monitor " + master_name_ + " 127.0.0.1 " +
                         std::to_string(master_->port()) + " 2\n" +
                         "sentinel down-after-milliseconds " + master_name_ + " 1000\n" +
                         "sentinel failover-timeout " + master_name_ + " 3000\n" +
                         "sentinel parallel-syncs " + master_name_ + " 1\n";
    if (!password_.empty()) config += "sentinel auth-pass " + master_name_ + " " + password_ + "\n";
    for (int i = 0; i < sentinel_count; ++i)
        sentinels_.push_back(std::make_unique<RedisServer>(ConfigFile{config},
                                                           std::vector<std::string>{"--sentinel"}));
}

std::string SentinelGroup::url() const {
    std::string hosts;
    for (const auto& s : sentinels_)
        hosts += (hosts.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(s->port());
    return "redis+sentinel://" + userinfo(password_) + hosts + "/" + master_name_;
}

int SentinelGroup::master_port_per_sentinels() const {
    for (const auto& s : sentinels_) {
        if (!s->running()) continue;
        try {
            const auto lines = lines_of(s->cli({"SENTINEL", "get-master-addr-by-name", master_name_}));
            if (lines.size() >= 2) return std::stoi(lines[1]);
        } catch (const std::exception&) {
        }
    }
    return 0;
}

void SentinelGroup::wait_until_failover_ready(std::chrono::seconds limit) {
    const std::string others = std::to_string(sentinels_.size() - 1);
    wait_until(limit, "Sentinels know the replica and each other", [&] {
        for (const auto& s : sentinels_) {
            const std::string state = s->cli({"SENTINEL", "master", master_name_});
            if (value_after(state, "num-slaves") != "1" ||
                value_after(state, "num-other-sentinels") != others)
                return false;
        }
        return info_field(replica_->cli({"INFO", "replication"}), "master_link_status") == "up";
    });
}

void SentinelGroup::wait_for_replica(std::chrono::seconds limit) {
    wait_until(limit, "the replica caught up with the master", [&] {
        const std::string master_offset =
            info_field(master_->cli({"INFO", "replication"}), "master_repl_offset");
        const std::string replica_offset =
            info_field(replica_->cli({"INFO", "replication"}), "slave_repl_offset");
        return !master_offset.empty() && master_offset == replica_offset;
    });
}

ClusterGroup::ClusterGroup(int master_count, int replicas_per_master, std::string password)
    : password_(std::move(password)) {
    const auto auth = auth_args(password_);
    for (int i = 0; i < master_count * (1 + replicas_per_master); ++i) {
        std::vector<std::string> args{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                      "--cluster-node-timeout", "2000",
                                      "--cluster-require-full-coverage", "no",
                                      "--repl-diskless-sync-delay", "0"};
        args.insert(args.end(), auth.begin(), auth.end());
        nodes_.push_back(std::make_unique<RedisServer>(args));
    }
    std::vector<std::string> create{"--cluster", "create"};
    for (const auto& n : nodes_) create.push_back("127.0.0.1:" + std::to_string(n->port()));
    create.insert(create.end(),
                  {"--cluster-replicas", std::to_string(replicas_per_master), "--cluster-yes"});
    nodes_[0]->cli(create, std::chrono::seconds(30));
    wait_until_ok(std::chrono::seconds(20));
}

void ClusterGroup::wait_until_ok(std::chrono::seconds limit) {
    wait_until(limit, "every cluster node says cluster_state:ok", [&] {
        for (const auto& n : nodes_) {
            const std::string info = n->cli({"CLUSTER", "INFO"});
            if (info_field(info, "cluster_state") != "ok" ||
                info_field(info, "cluster_slots_assigned") != "16384" ||
                info_field(info, "cluster_known_nodes") != std::to_string(nodes_.size()))
                return false;
        }
        return true;
    });
}

std::string ClusterGroup::url() const {
    std::string hosts;
    for (const auto& n : nodes_)
        hosts += (hosts.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(n->port());
    return "redis+cluster://" + userinfo(password_) + hosts;
}

std::string ClusterGroup::node_id(std::size_t i) const {
    const auto lines = lines_of(nodes_.at(i)->cli({"CLUSTER", "MYID"}));
    if (lines.empty() || lines[0].empty()) throw std::runtime_error("CLUSTER MYID answered nothing");
    return lines[0];
}

void ClusterGroup::flush_all() {
    for (std::size_t i = 0; i < nodes_.size(); ++i)
        if (nodes_[i]->running() && is_master(i)) nodes_[i]->cli({"FLUSHALL"});
}

bool ClusterGroup::is_master(std::size_t i) const {
    return nodes_.at(i)->cli({"ROLE"}).starts_with("master");
}

std::size_t ClusterGroup::replica_of(std::size_t i) const {
    const std::string port = std::to_string(nodes_.at(i)->port());
    for (std::size_t r = 0; r < nodes_.size(); ++r) {
        if (r == i || !nodes_[r]->running()) continue;
        const std::string info = nodes_[r]->cli({"INFO", "replication"});
        if (info_field(info, "role") == "slave" && info_field(info, "master_port") == port) return r;
    }
    return nodes_.size();
}

void ClusterGroup::wait_for_replica(std::size_t replica, std::chrono::seconds limit) {
    wait_until(limit, "the replica caught up with its master", [&] {
        const std::string info = nodes_.at(replica)->cli({"INFO", "replication"});
        const std::string master_port = info_field(info, "master_port");
        if (info_field(info, "master_link_status") != "up") return false;
        for (const auto& n : nodes_)
            if (std::to_string(n->port()) == master_port) {
                const std::string master_offset =
                    info_field(n->cli({"INFO", "replication"}), "master_repl_offset");
                return !master_offset.empty() &&
                       master_offset == info_field(info, "slave_repl_offset");
            }
        return false;
    });
}

void ClusterGroup::reshard(std::size_t from, std::size_t to, int slots) {
    nodes_.at(from)->cli({"--cluster", "reshard", "127.0.0.1:" + std::to_string(nodes_[from]->port()),
                          "--cluster-from", node_id(from), "--cluster-to", node_id(to),
                          "--cluster-slots", std::to_string(slots), "--cluster-yes"},
                         std::chrono::seconds(60));
}

std::vector<bool> ClusterGroup::slots_of(std::size_t i) const {
    std::vector<bool> owned(16384, false);
    for (const auto& line : lines_of(nodes_.at(i)->cli({"CLUSTER", "NODES"}))) {
        std::istringstream fields(line);
        std::vector<std::string> f;
        for (std::string word; fields >> word;) f.push_back(word);
        if (f.size() < 3 || f[2].find("myself") == std::string::npos) continue;
        for (std::size_t k = 8; k < f.size(); ++k) {
            if (f[k].starts_with("[")) continue;  // a slot in migration
            const std::size_t dash = f[k].find('-');
            const int first = std::stoi(f[k].substr(0, dash));
            const int last = dash == std::string::npos ? first : std::stoi(f[k].substr(dash + 1));
            for (int s = first; s <= last && s < 16384; ++s) owned[static_cast<std::size_t>(s)] = true;
        }
    }
    return owned;
}

}  // namespace quotamilter::test
