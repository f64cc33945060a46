// Metrics as Prometheus sees them: record events, scrape /metrics over HTTP.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "cli/metrics_prometheus.h"
#include "redis_server.h"  // free_loopback_port()

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <stdexcept>
#include <string>

namespace {

using namespace quotamilter;

// A bounded HTTP/1.0 GET (the connection closes after the body).
std::string http_get(int port, const std::string& path) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    timeval timeout{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        close(fd);
        throw std::runtime_error("cannot connect to the metrics endpoint");
    }
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    REQUIRE(write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()));
    std::string response;
    std::array<char, 8192> buffer{};
    for (int reads = 0; reads < 10000; ++reads) {
        ssize_t n = read(fd, buffer.data(), buffer.size());
        if (n <= 0) break;
        response.append(buffer.data(), static_cast<std::size_t>(n));
    }
    close(fd);
    return response;
}

// The value of one sample line, e.g. `quotamilter_connections 2`.
double sample(const std::string& text, const std::string& series) {
    auto at = text.find("\n" + series + " ");
    if (at == std::string::npos) throw std::runtime_error("no sample " + series);
    return std::stod(text.substr(at + series.size() + 2));
}

class CountingStore final : public store::QuotaStore {
public:
    store::Outcome next = store::Outcome::admitted;
    store::Decision check(std::span<const store::CounterRequest>) override { return decision(); }
    store::Decision charge(std::span<const store::CounterRequest>) override { return decision(); }

private:
    store::Decision decision() const {
        store::Decision decision;
        decision.outcome = next;
        return decision;
    }
};

}  // namespace

TEST_CASE("refusals by policy and verdict, accepted messages, connections and reloads are served") {
    const int port = test::free_loopback_port();
    auto metrics = cli::make_prometheus_metrics("127.0.0.1:" + std::to_string(port));
    for (int i = 0; i < 3; ++i) metrics->refusal("user1_ratelimit", "reject");
    metrics->refusal("internal_outbound", "tempfail");
    metrics->refusal("rollout", "would_reject");
    for (int i = 0; i < 5; ++i) metrics->message_accepted();
    metrics->connection_opened();
    metrics->connection_opened();
    metrics->connection_closed();
    metrics->rules_loaded(true);
    metrics->rules_loaded(false);
    metrics->store_error_answer("tempfail");

    const std::string text = http_get(port, "/metrics");
    CHECK(text.find("200 OK") != std::string::npos);
    CHECK(sample(text, R"(quotamilter_refusals_total{policy="user1_ratelimit",verdict="reject"})") == 3);
    CHECK(sample(text, R"(quotamilter_refusals_total{policy="internal_outbound",verdict="tempfail"})") == 1);
    CHECK(sample(text, R"(quotamilter_refusals_total{policy="rollout",verdict="would_reject"})") == 1);
    CHECK(sample(text, "quotamilter_messages_accepted_total") == 5);
    CHECK(sample(text, "quotamilter_connections") == 1);
    CHECK(sample(text, R"(quotamilter_rule_loads_total{result="ok"})") == 1);
    CHECK(sample(text, R"(quotamilter_rule_loads_total{result="failed"})") == 1);
    CHECK(sample(text, R"(quotamilter_store_error_answers_total{answer="tempfail"})") == 1);
    CHECK(sample(text, "quotamilter_rules_last_good_load_timestamp_seconds") > 1.7e9);
}

TEST_CASE("every store call is timed into the histogram; failed calls count as store errors") {
    const int port = test::free_loopback_port();
    auto metrics = cli::make_prometheus_metrics("127.0.0.1:" + std::to_string(port));
    CountingStore inner;
    auto measured = filter::measure_store_calls(inner, *metrics);
    std::vector<store::CounterRequest> requests(1);
    measured->check(requests);
    measured->charge(requests);
    inner.next = store::Outcome::store_error;
    measured->charge(requests);

    const std::string text = http_get(port, "/metrics");
    CHECK(sample(text, R"(quotamilter_store_call_seconds_count{operation="check"})") == 1);
    CHECK(sample(text, R"(quotamilter_store_call_seconds_count{operation="charge"})") == 2);
    CHECK(sample(text, R"(quotamilter_store_errors_total{operation="charge"})") == 1);
    CHECK(text.find(R"(quotamilter_store_errors_total{operation="check"})") == std::string::npos);
}

TEST_CASE("an address that cannot be bound is a clear error") {
    const int port = test::free_loopback_port();
    auto first = cli::make_prometheus_metrics("127.0.0.1:" + std::to_string(port));
    CHECK_THROWS_WITH_AS(cli::make_prometheus_metrics("127.0.0.1:" + std::to_string(port)),
                         doctest::Contains("metrics: cannot listen on"), std::runtime_error);
}

TEST_CASE("every metric the Grafana dashboard (docs/grafana-dashboard.json) queries is served") {
    const int port = test::free_loopback_port();
    auto metrics = cli::make_prometheus_metrics("127.0.0.1:" + std::to_string(port));
    metrics->refusal("p", "reject");
    metrics->message_accepted();
    metrics->store_error_answer("tempfail");
    metrics->store_call("charge", std::chrono::milliseconds(1), false);
    metrics->connection_opened();
    metrics->rules_loaded(true);
    const std::string text = http_get(port, "/metrics");

    std::ifstream file(std::string(QM_SOURCE_DIR) + "/docs/grafana-dashboard.json");
    REQUIRE(file.good());
    const auto dashboard = nlohmann::json::parse(file);
    const std::regex metric_name(R"(quotamilter_[a-z_]+)");
    std::size_t names_checked = 0;
    for (const auto& panel : dashboard.at("panels")) {
        for (const auto& target : panel.at("targets")) {
            const std::string expr = target.at("expr");
            for (std::sregex_iterator it(expr.begin(), expr.end(), metric_name), end; it != end; ++it) {
                INFO("panel: " << panel.at("title").get<std::string>() << ", metric: " << it->str());
                CHECK(text.find("\n" + it->str()) != std::string::npos);
                ++names_checked;
            }
        }
    }
    CHECK(names_checked >= 7);
}
