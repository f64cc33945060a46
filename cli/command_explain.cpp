// quotamilter explain: which policies and quotas apply to a message, and why.
// Touches no store; the text comes from rules/explain.h.
#include "cli/cli_args.h"
#include "cli/commands.h"
#include "filter/counter_request.h"
#include "rules/explain.h"
#include "rules/header_text.h"
#include "rules/ip.h"
#include "rules/load.h"
#include "store/quota_store.h"

#include <charconv>
#include <cstdio>

namespace quotamilter::cli {

namespace {
constexpr const char* kExplainHelp =
    "usage: quotamilter explain --rules FILE --sender ADDR [--rcpt ADDR]... [--client IP] [--sasl USER]\n"
    "                           [--size BYTES] [--key-prefix PREFIX] [--header 'Name: value']...\n"
    "\n"
    "Shows, for a message described by the options, every policy in evaluation\n"
    "order (matched or not, and why), the quotas that apply with their tracked\n"
    "keys and counters, and where an exempt policy stopped evaluation.\n"
    "Touches no store; prints each counter's store key (key prefix \"qm:\" unless\n"
    "--key-prefix says otherwise). Use --sender '<>' for the null sender.\n"
    "--header gives the message's headers (repeat it, in message order) for\n"
    "content rules; values are decoded like the milter does (RFC 2047).\n"
    "Exit status: 0 explained, 1 the rule file is invalid, 2 usage error.\n";
}  // namespace

int run_explain(const Args& args) {
    const ParsedArgs parsed(args, {"rules", "sender", "rcpt", "client", "sasl", "size", "key-prefix", "header"}, {"help"});
    if (parsed.has("help")) {
        std::fputs(kExplainHelp, stdout);
        return 0;
    }
    if (!parsed.positional().empty()) throw UsageError("unexpected argument '" + parsed.positional().front() + "'");
    const auto rules_path = parsed.value("rules");
    if (!rules_path) throw UsageError("missing --rules FILE");
    const auto sender = parsed.value("sender");
    if (!sender) throw UsageError("missing --sender ADDR (use '<>' for the null sender)");

    rules::ExplainInput input;
    input.sender_as_given = *sender;
    input.facts.sender = rules::normalize_address(*sender);
    for (const std::string& recipient : parsed.values("rcpt")) {
        const rules::Address address = rules::normalize_address(recipient);
        if (address.null_sender) throw UsageError("--rcpt '" + recipient + "' is not an address");
        input.recipients_as_given.push_back(recipient);
        input.facts.recipients.push_back(address);
    }
    if (auto client = parsed.value("client")) {
        if (!rules::parse_ip(*client)) throw UsageError("--client '" + *client + "' is not an IPv4 or IPv6 address");
        input.facts.client_ip = *client;
    }
    if (auto sasl = parsed.value("sasl")) {
        if (sasl->empty()) throw UsageError("--sasl needs a user name");
        input.facts.sasl_user = *sasl;
    }
    if (auto size = parsed.value("size")) {
        std::uint64_t bytes = 0;
        auto [end, ec] = std::from_chars(size->data(), size->data() + size->size(), bytes);
        if (size->empty() || ec != std::errc() || end != size->data() + size->size()) {
            throw UsageError("--size '" + *size + "' is not a number of bytes");
        }
        input.facts.size = bytes;
    }

    for (const std::string& header : parsed.values("header")) {
        const std::size_t colon = header.find(':');
        const std::string name = header.substr(0, colon);
        if (colon == std::string::npos || !rules::is_valid_header_name(name))
            throw UsageError("--header '" + header + "' is not 'Name: value'");
        input.facts.headers.push_back({rules::lower_ascii(name), rules::decode_header_value(header.substr(colon + 1))});
        input.facts.headers_known = true;
    }

    // The Redis key of each counter, so that `redis-cli GET`/`--scan` can follow up.
    const std::string key_prefix = parsed.value("key-prefix").value_or("qm:");
    if (key_prefix.find_first_of("{}") != std::string::npos) throw UsageError("--key-prefix must not contain { or }");
    input.store_key = [key_prefix](const rules::ApplicableQuota& applicable) {
        return store::counter_key(key_prefix, filter::counter_id(applicable));
    };

    auto loaded = rules::load_rules_file(*rules_path);
    if (auto* errors = std::get_if<std::vector<rules::Diagnostic>>(&loaded)) {
        for (const rules::Diagnostic& diagnostic : *errors) std::fprintf(stderr, "%s\n", diagnostic.str().c_str());
        return 1;
    }
    const std::string text = rules::explain_text(std::get<rules::RuleSet>(loaded), input);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
}

}  // namespace quotamilter::cli
