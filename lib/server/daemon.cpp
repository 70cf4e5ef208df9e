#include "server/daemon.h"

#include <pwd.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <fmt/format.h>

#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>

#include "common/clock.h"
#include "common/errno_error.h"
#include "common/log.h"
#include "common/log_output.h"
#include "common/thread_setup.h"
#include "common/user_name.h"
#include "common/version.h"
#include "policy/limiter.h"
#include "query/query_parser.h"
#include "render/answer_renderer.h"
#include "server/config_changes.h"
#include "server/connection_limits.h"
#include "server/listen_check.h"
#include "server/listen_clash.h"
#include "server/metrics.h"
#include "server/metrics_http.h"
#include "server/privileges.h"
#include "server/query_handler.h"
#include "server/query_log_sink.h"
#include "server/server.h"
#include "server/service_status.h"
#include "server/service_watchdog.h"
#include "server/socket_activation.h"
#include "server/start_timeout_extender.h"
#include "server/systemd_notifier.h"
#include "snapshot/snapshot_file.h"
#include "snapshot/snapshot_store.h"
#include "state/state_db.h"
#include "state/state_dir_lock.h"
#include "state/state_persister.h"

namespace whoisd {
namespace {

// [snapshot] watch watches the snapshot's directory, since a new file renamed over the
// path replaces its inode: the start watches it, and --check-config checks it readable.
std::string snapshot_watch_directory(const std::string& snapshot_path) {
  const std::filesystem::path p(snapshot_path);
  return p.has_parent_path() ? p.parent_path().string() : std::string(".");
}

LimiterConfig limiter_config(const Config& c) {
  LimiterConfig l;
  l.queries = c.limits.queries;
  l.window = c.limits.window;
  l.suspension = c.limits.suspension;
  l.quiet_period = c.limits.quiet_period;
  l.ipv6_prefix = c.limits.ipv6_prefix;
  l.max_sources = c.limits.max_sources;
  for (const auto& n : c.limits.networks) l.network_limits.add(n.network, n.queries);
  l.exempt = c.limits.exempt;
  return l;
}

std::shared_ptr<const LiveSettings> live_settings(const Config& c, int ipv6_prefix) {
  auto s = std::make_shared<LiveSettings>();
  s->read_timeout = c.server.read_timeout;
  s->write_timeout = c.server.write_timeout;
  s->max_connections = c.server.max_connections;
  s->max_connections_per_source = c.server.max_connections_per_source;
  s->ipv6_prefix = ipv6_prefix;
  s->trusted_proxies = c.trusted_proxies;
  AnswerTexts texts;
  texts.header = c.header;
  texts.footer = c.footer;
  texts.limit_window_seconds = c.limits.window.count();
  s->renderer = std::make_shared<AnswerRenderer>(std::move(texts));
  return s;
}

std::chrono::milliseconds drain_deadline(const Config& c) {
  return c.server.read_timeout + c.server.write_timeout + std::chrono::milliseconds(1000);
}

// SIGHUP, SIGTERM and SIGINT, blocked or unblocked in the calling thread (and so in the
// threads it starts afterwards).
void block_control_signals(int how) {
  sigset_t set;
  sigemptyset(&set);
  for (int signum : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&set, signum);
  pthread_sigmask(how, &set, nullptr);
}

void log_snapshot(const char* event, const SnapshotInfo& info) {
  log::info(event)
      .kv("snapshot", info.path)
      .kv("domains", info.domains)
      .kv("bytes", info.file_bytes)
      .kv("schema", info.schema_version)
      .kv("exported_at", log::iso8601_utc(info.exported_at))
      .kv("generation", info.generation);
}

// Everything the running daemon is made of, and the control loop on the main
// thread that turns signals into reloads and the stop.
class Daemon {
 public:
  explicit Daemon(DaemonOptions options)
      : options_(std::move(options)),
        config_(options_.config),
        metrics_(registry_, clock_),
        limiter_(limiter_config(config_), clock_),
        store_(config_.snapshot_path, SnapshotStoreOptions{.concurrent_readers = event_loop_count(config_.server.loops)}),
        handler_(limiter_, parser_, store_),
        context_{handler_, query_log_, metrics_, connections_},
        server_(context_, live_settings(config_, limiter_.ipv6_prefix()), config_.server.loops) {}

  int run() {
    if (auto interval = ServiceWatchdog::interval_from_environment())
      watchdog_.emplace(notifier_, *interval, server_.loop_names(), [this] { return server_.heartbeats(); });
    raise_open_files_limit();
    bind_listeners();
    if (config_.metrics_listen) {
      // Bound with the listeners, before the privileges are dropped (a port below 1024
      // works); served once everything it reports on exists.
      metrics_http_ = std::make_unique<MetricsHttpServer>(registry_);
      metrics_http_->bind(*config_.metrics_listen);
    }
    prepare_state_dir();
    if (drop_privileges(config_.server.user))
      log::info("privileges_dropped").kv("user", config_.server.user);
    state_lock_ = std::make_unique<StateDirLock>(config_.state_dir);

    // From here to the loops' start the work can take long (a big snapshot checked whole,
    // a state schema upgrade, a large state to load): systemd's start timeout is pushed
    // ahead while it runs, which lets whoisd.service keep TimeoutStartSec= short.
    std::optional<StartTimeoutExtender> extender(std::in_place, notifier_);
    notifier_.status("starting: opening the snapshot " + config_.snapshot_path);
    store_.open();
    SnapshotInfo info = store_.info();
    metrics_.set_snapshot(info.exported_at, info.domains, info.file_bytes);
    log_snapshot("snapshot_opened", info);

    std::string db_path = state_db_path(config_.state_dir);
    // The longest step: upgrading an older state schema (about 16 s for 10 million logged
    // queries), during which the extender above keeps systemd waiting.
    notifier_.status("starting: opening the state in " + config_.state_dir +
                     " (upgrading an older state schema can take minutes)");
    StateDb::open(db_path, StateDb::Mode::create);
    StatePersisterOptions persist;
    persist.retention = config_.retention;
    persist.idle_priority = true;  // the two writers yield to the event loops at once (thread_setup.h)
    persister_ = std::make_unique<StatePersister>(db_path, limiter_, clock_, persist);
    persister_->load();  // logs what it restored
    persister_->start();
    query_log_.open(db_path, limiter_.ipv6_prefix());
    metrics_.watch_query_log([this] { return query_log_.counters().backlog; },
                             [this] { return query_log_.counters().dropped; },
                             [this] { return query_log_.counters().write_errors; });
    metrics_.watch_limiter([this] { return static_cast<std::uint64_t>(limiter_.tracked_sources()); },
                           [this] { return static_cast<std::uint64_t>(limiter_.stats().active_suspensions); },
                           [this] { return limiter_.stats().evicted_sources; });
    metrics_.watch_state([this] { return persister_->stats().admin_actions_applied; },
                         [this] { return persister_->stats().round_errors; });

    extender.reset();  // what is left is quick

    if (metrics_http_) metrics_http_->serve();

    if (watchdog_) server_.beat_every(watchdog_->heartbeat_period());
    server_.start();
    std::string listen;
    for (const auto& n : server_.listener_names()) listen += (listen.empty() ? "" : ",") + n;
    log::info("start")
        .kv("listen", listen)
        .kv("loops", server_.loops())
        .kv("snapshot", info.path)
        .kv("domains", info.domains)
        .kv("state_dir", config_.state_dir)
        .kv("metrics", metrics_http_ ? ListenAddress{config_.metrics_listen->address, metrics_http_->port()}.to_string()
                                     : std::string("off"))
        .kv("config", config_.source)
        .kv("version", version());
    // Listeners, snapshot and state are open and the loops serve: systemd's start job ends
    // here (a signal that came meanwhile is taken by the control loop, next).
    status_.serving(info);
    // The start line (and what came before it) is out before systemd hears READY=1: a
    // script that waits for the unit and reads the port from the log finds it, and the
    // journal shows it before "Started". Bounded, so that a stuck journald holds the
    // start up for a second at most (then the lines follow when it moves).
    (void)log::wait_until_written(std::chrono::seconds(1));
    notifier_.ready(status_.text());

    control_loop();

    log::info("stopping").kv("open_connections", connections_.open_total());
    server_.stop(drain_deadline(config_));
    notifier_.status("stopping: answers finished, writing the query log and the state");
    query_log_.stop();
    persister_->stop();
    if (metrics_http_) metrics_http_->stop();
    auto counters = query_log_.counters();
    log::info("stopped").kv("queries_logged", counters.written).kv("queries_dropped", counters.dropped);
    return 0;
  }

 private:
  void bind_listeners() {
    std::vector<ActivatedSocket> activated = take_activated_sockets();
    refuse_listen_clashes(activated);
    if (!activated.empty()) {
      for (const auto& s : activated) server_.adopt(s.fd);
      log::info("socket_activation").kv("sockets", activated.size());
      return;
    }
    for (const auto& a : config_.server.listen) server_.bind(a);
  }

  // Two sockets one whoisd cannot both hold (listen_clash.h), refused before any is bound:
  // otherwise the event loops' listen() would fail with EADDRINUSE, naming neither the
  // metrics endpoint nor the setting, after the privileges were dropped.
  void refuse_listen_clashes(const std::vector<ActivatedSocket>& activated) {
    std::string clashes;
    for (const auto& overlap : find_listen_overlaps(listen_endpoints(config_, activated))) {
      if (overlap.overlap == ListenOverlap::clash)
        clashes += (clashes.empty() ? "" : "; ") + overlap.line;
      else
        log::warn("listen_redundant").kv("note", overlap.line);
    }
    if (!clashes.empty()) throw std::runtime_error(clashes);
  }

  // Started as root without systemd: a state directory that does not exist yet is
  // created here and given to the service user, as systemd's StateDirectory= would,
  // so that the user can create state.sqlite after the privileges are dropped. An
  // existing directory is left as the operator made it.
  void prepare_state_dir() {
    if (geteuid() != 0) return;
    std::error_code ec;
    if (std::filesystem::exists(config_.state_dir, ec)) return;
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(16384);
    if (getpwnam_r(config_.server.user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found)
      return;  // drop_privileges() names the unknown user next
    // The parents made on the way are root's; whatever root's umask, the user must pass them.
    std::vector<std::filesystem::path> made_parents;
    for (std::filesystem::path p = std::filesystem::path(config_.state_dir).parent_path();
         !p.empty() && p != p.root_path() && !std::filesystem::exists(p, ec); p = p.parent_path())
      made_parents.push_back(p);
    std::filesystem::create_directories(config_.state_dir, ec);
    if (ec) throw std::runtime_error("[state] dir '" + config_.state_dir + "': cannot create it: " + ec.message());
    for (const auto& p : made_parents)
      if (::chmod(p.c_str(), 0755) != 0)
        throw std::runtime_error("[state] dir '" + config_.state_dir + "': cannot open its new parent " + p.string() +
                                 " to user '" + config_.server.user + "': " + std::strerror(errno));
    if (chown(config_.state_dir.c_str(), pw.pw_uid, pw.pw_gid) != 0 || chmod(config_.state_dir.c_str(), 0750) != 0)
      throw std::runtime_error("[state] dir '" + config_.state_dir + "': cannot give it to user '" +
                               config_.server.user + "': " + std::strerror(errno));
    log::info("state_dir_created").kv("dir", config_.state_dir).kv("user", config_.server.user);
  }

  // Every connection is a file descriptor: take the hard limit, and say so when
  // max_connections cannot be reached under it (accepts would fail first).
  void raise_open_files_limit() {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
    if (lim.rlim_cur < lim.rlim_max) {
      lim.rlim_cur = lim.rlim_max;
      setrlimit(RLIMIT_NOFILE, &lim);
      getrlimit(RLIMIT_NOFILE, &lim);
    }
    // Listeners, the state database, the snapshot pool, the metrics endpoint: a margin of 256.
    if (lim.rlim_cur != RLIM_INFINITY && config_.server.max_connections + 256ULL > lim.rlim_cur)
      log::warn("open_files_limit")
          .kv("limit", static_cast<std::uint64_t>(lim.rlim_cur))
          .kv("max_connections", config_.server.max_connections)
          .kv("hint", "raise LimitNOFILE (systemd) or ulimit -n, or lower server.max_connections");
  }

  // The main thread's own libuv loop: signals, the optional snapshot watch and the
  // limiter's housekeeping (it serves no client).
  void control_loop() {
    uv_loop_t loop;
    uv_loop_init(&loop);
    loop.data = this;
    uv_signal_t hup, term, intr;
    uv_timer_t sweep, settle, served_check;
    uv_fs_event_t watch;
    for (uv_signal_t* s : {&hup, &term, &intr}) {
      uv_signal_init(&loop, s);
      s->data = this;
    }
    uv_signal_start(
        &hup,
        [](uv_signal_t* s, int) {
          log::info("signal").kv("signal", "SIGHUP");
          auto* self = static_cast<Daemon*>(s->data);
          self->announce_reload();
          self->request_reload(s->loop, true);
        },
        SIGHUP);
    auto stop = [](uv_signal_t* s, int signum) {
      log::info("signal").kv("signal", signum == SIGTERM ? "SIGTERM" : "SIGINT");
      auto* self = static_cast<Daemon*>(s->data);
      if (!self->stop_requested_)
        self->notifier_.stopping("stopping: draining " + std::to_string(self->connections_.open_total()) +
                                 " open connections");
      self->stop_requested_ = true;
      self->maybe_leave(s->loop);
    };
    uv_signal_start(&term, stop, SIGTERM);
    uv_signal_start(&intr, stop, SIGINT);
    // What came during start-up is delivered now, to these handlers.
    block_control_signals(SIG_UNBLOCK);
    // The limiter forgets sources whose state can no longer matter in bounded steps.
    uv_timer_init(&loop, &sweep);
    sweep.data = this;
    constexpr auto kSweepMs = static_cast<std::uint64_t>(Limiter::kSweepPeriod.count());
    uv_timer_start(
        &sweep, [](uv_timer_t* t) { static_cast<Daemon*>(t->data)->limiter_.sweep(Limiter::kSweepSlots); }, kSweepMs,
        kSweepMs);

    // The served file written in place (cp or scp over the path instead of a rename): seen
    // at once through the file's own change events, and every second in case those are
    // not delivered (some file systems); retried from the timer only (see below).
    uv_fs_event_init(&loop, &served_watch_);
    served_watch_.data = this;
    uv_timer_init(&loop, &served_check);
    served_check.data = this;
    uv_timer_start(&served_check, [](uv_timer_t* t) { static_cast<Daemon*>(t->data)->check_served_file(t->loop, true); },
                   1000, 1000);
    watch_served_file();

    // WatchdogSec=: WATCHDOG=1 from this loop while every event loop shows progress.
    if (watchdog_) watchdog_->start(&loop);

    // [snapshot] watch: a new file renamed over the path reloads it as SIGHUP would
    // (the snapshot only). The directory is watched, since the rename replaces the
    // file's inode; events settle for a moment so that one install is one reload.
    uv_timer_init(&loop, &settle);
    settle.data = this;
    uv_fs_event_init(&loop, &watch);
    watch.data = this;
    if (config_.snapshot_watch) {
      watched_name_ = std::filesystem::path(config_.snapshot_path).filename().string();
      const std::string dir = snapshot_watch_directory(config_.snapshot_path);
      watch_settle_ = &settle;
      int rc = uv_fs_event_start(
          &watch,
          [](uv_fs_event_t* h, const char* filename, int, int status) {
            auto* self = static_cast<Daemon*>(h->data);
            if (status < 0 || !filename || self->watched_name_ != filename) return;
            uv_timer_start(
                self->watch_settle_,
                [](uv_timer_t* t) {
                  log::info("snapshot_changed").kv("snapshot", static_cast<Daemon*>(t->data)->config_.snapshot_path);
                  static_cast<Daemon*>(t->data)->request_reload(t->loop, false);
                },
                500, 0);
          },
          dir.c_str(), 0);
      if (rc != 0)
        log::warn("snapshot_watch_failed").kv("dir", dir).kv("error", uv_strerror(rc)).kv("hint", "use SIGHUP");
      else
        log::info("snapshot_watch").kv("dir", dir).kv("file", watched_name_);
    }

    uv_run(&loop, UV_RUN_DEFAULT);
    // Closing the signal handlers restores the default actions at once, and a SIGHUP's
    // is to end the process: held back from here until it is ignored (below), as it is
    // in every other thread (started with the control signals blocked).
    block_control_signals(SIG_BLOCK);
    for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&hup), reinterpret_cast<uv_handle_t*>(&term),
                           reinterpret_cast<uv_handle_t*>(&intr), reinterpret_cast<uv_handle_t*>(&sweep),
                           reinterpret_cast<uv_handle_t*>(&settle), reinterpret_cast<uv_handle_t*>(&watch),
                           reinterpret_cast<uv_handle_t*>(&served_check), reinterpret_cast<uv_handle_t*>(&served_watch_)})
      uv_close(h, nullptr);
    if (watchdog_) watchdog_->close();  // the drain is no longer watched (systemd stops it at STOPPING=1)
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    // Closing the handlers restored the default actions. During the drain a SIGHUP
    // is ignored (one that came meanwhile is discarded); a second SIGTERM or SIGINT ends
    // the process at once (an operator's "now"; the state on disk is then at most a
    // second old).
    std::signal(SIGHUP, SIG_IGN);
    block_control_signals(SIG_UNBLOCK);
  }

  // Watches the inode now served (a reload serves another: then called again).
  void watch_served_file() {
    uv_fs_event_stop(&served_watch_);
    if (!store_.is_open()) return;
    served_watch_generation_ = store_.info().generation;
    int rc = uv_fs_event_start(
        &served_watch_,
        [](uv_fs_event_t* h, const char*, int, int status) {
          if (status == 0) static_cast<Daemon*>(h->data)->check_served_file(h->loop, false);
        },
        config_.snapshot_path.c_str(), 0);
    if (rc != 0)  // the one-second check still runs
      log::warn("snapshot_file_watch_failed").kv("snapshot", config_.snapshot_path).kv("error", uv_strerror(rc));
  }

  // The registry installs a snapshot by renaming a new file over the path. A copy over it
  // writes into the very file the connections map and read inside a transaction they
  // never end, and SQLite, told the file is immutable, reads whatever is there (answers
  // "no match" for registered domains, in the test that found this). Once noticed, the
  // store refuses lookups on that file (no answer rather than a wrong one), the error is
  // logged once, and the file at the path is reloaded: from the timer only, and only
  // when it changed since the last try, so that a copy in progress is retried about once
  // a second (each refused as truncated) and a broken result is not retried forever.
  void check_served_file(uv_loop_t* loop, bool may_reload) {
    if (!store_.is_open()) return;
    const std::uint64_t generation = store_.info().generation;
    if (generation != served_watch_generation_) watch_served_file();
    if (!store_.written_in_place()) return;
    if (in_place_logged_generation_ != generation) {
      in_place_logged_generation_ = generation;
      metrics_.snapshot_written_in_place.inc();
      log::error("snapshot_written_in_place")
          .kv("snapshot", config_.snapshot_path)
          .kv("serving_generation", generation)
          .kv("hint", "its lookups are refused until a reload serves a whole file; install a snapshot by writing "
                      "it beside the path and renaming it over the path");
    }
    if (!may_reload) return;
    std::optional<FileIdentity> at_path = identity_of(config_.snapshot_path);
    if (at_path && at_path != in_place_tried_) {
      in_place_tried_ = at_path;
      request_reload(loop, false);
    }
  }

  void maybe_leave(uv_loop_t* loop) {
    // A reload in progress finishes first (it runs on the thread pool and uses the store).
    if (stop_requested_ && !reloading_) uv_stop(loop);
  }

  // SIGHUP: systemd hears that a reload begins (RELOADING=1), and hears READY=1 when it
  // and any reload asked for meanwhile are done (finish_reloads). Reloads of the watched
  // file are not announced: they are no operator's request, and a file being copied in
  // place is retried every second.
  void announce_reload() {
    if (stop_requested_) return;
    reload_announced_ = true;
    notifier_.reloading(options_.config_path ? "reloading the snapshot and the configuration"
                                             : "reloading the snapshot");
  }

  // On the loop thread, when the last reload asked for is done: what it did is what the
  // status line says from now on.
  void finish_reloads() {
    if (stop_requested_) return;  // STOPPING=1 was said; no READY=1 after it
    if (reload_announced_)
      notifier_.ready(status_.text());
    else
      notifier_.status(status_.text());
    reload_announced_ = false;
  }

  // One reload at a time, on the thread pool; a request during one runs after it
  // (the file may have changed again since that one began).
  void request_reload(uv_loop_t* loop, bool with_config) {
    if (stop_requested_) return;
    if (reloading_) {
      reload_again_ = true;
      reload_again_config_ = reload_again_config_ || with_config;
      return;
    }
    reloading_ = true;
    reload_config_ = with_config;
    reload_req_.data = this;
    uv_queue_work(
        loop, &reload_req_,
        [](uv_work_t* w) {
          set_up_pool_thread();
          static_cast<Daemon*>(w->data)->reload();
        },
        [](uv_work_t* w, int) {
          auto* self = static_cast<Daemon*>(w->data);
          self->reloading_ = false;
          self->adopt_reloaded_config();
          if (self->reload_again_ && !self->stop_requested_) {
            self->reload_again_ = false;
            bool with = self->reload_again_config_;
            self->reload_again_config_ = false;
            self->request_reload(w->loop, with);
            return;
          }
          self->finish_reloads();
          self->maybe_leave(w->loop);
        });
  }

  // On a thread-pool thread, never an event loop: reading files and opening the new
  // snapshot take as long as they take while the loops keep answering.
  void reload() {
    std::string error;
    if (store_.reload(&error)) {
      SnapshotInfo info = store_.info();
      metrics_.snapshot_reloads_ok.inc();
      metrics_.set_snapshot(info.exported_at, info.domains, info.file_bytes);
      log_snapshot("snapshot_reloaded", info);
      status_.serving(info);
    } else {
      metrics_.snapshot_reloads_failed.inc();
      status_.snapshot_refused(error);
      log::error("snapshot_reload_refused").kv("snapshot", config_.snapshot_path).kv("error", error)
          .kv("serving_generation", store_.info().generation);
    }
    if (!reload_config_ || !options_.config_path) return;
    Config fresh;
    try {
      fresh = load_config_file(*options_.config_path);
      apply_overrides(fresh, options_.overrides);
    } catch (const ConfigError& e) {
      refuse_config(e.what());
      return;
    }
    const std::vector<std::string> needs_restart = settings_needing_restart(config_, fresh);
    for (const auto& key : needs_restart) log::warn("config_needs_restart").kv("key", key);
    // What this reload adopts: a later reload compares with what actually runs.
    keep_settings_needing_restart(fresh, config_);
    try {
      for (const auto& warning : limiter_.reconfigure(limiter_config(fresh)))
        log::warn("config_reload").kv("warning", warning);
    } catch (const std::exception& e) {
      refuse_config(e.what());
      return;
    }
    server_.update_settings(live_settings(fresh, limiter_.ipv6_prefix()));
    log::set_level(fresh.log_level);
    metrics_.config_reloads_applied.inc();
    {
      // The keys that now hold other values, so that the log shows what a reload did;
      // none when the file was reread unchanged.
      const std::vector<std::string> changed = changed_settings(config_, fresh);
      log::Line line = log::info("config_reloaded");
      line.kv("config", *options_.config_path);
      if (!changed.empty()) line.kv("changed", fmt::format("{}", fmt::join(changed, ",")));
      status_.config_applied(changed, needs_restart);
    }
    reloaded_config_ = std::move(fresh);  // becomes config_ on the loop thread: adopt_reloaded_config
  }

  // The running configuration stays; said in the log and counted.
  void refuse_config(std::string_view error) {
    metrics_.config_reloads_refused.inc();
    status_.config_refused(error);
    log::error("config_reload_refused").kv("config", *options_.config_path).kv("error", error);
  }

  // On the loop thread, when a reload is done. The loop's own callbacks read config_
  // (the snapshot path, when the served file is checked or watched) while reload() runs
  // on the pool, so config_ is written here only, never there (ThreadSanitizer caught
  // the assignment racing uv_fs_event_start's read of the path).
  void adopt_reloaded_config() {
    if (!reloaded_config_) return;
    config_ = std::move(*reloaded_config_);
    reloaded_config_.reset();
  }

  DaemonOptions options_;
  Config config_;
  SystemClock clock_;
  MetricsRegistry registry_;
  DaemonMetrics metrics_;
  Limiter limiter_;
  QueryParser parser_;
  SnapshotStore store_;
  QueryHandler handler_;
  QueryLogSink query_log_;
  ConnectionLimits connections_;
  ServerContext context_;
  Server server_;
  std::unique_ptr<StateDirLock> state_lock_;  // held until the process ends
  std::unique_ptr<StatePersister> persister_;
  std::unique_ptr<MetricsHttpServer> metrics_http_;
  uv_work_t reload_req_{};
  bool reloading_ = false;
  bool reload_again_ = false;
  bool reload_config_ = false;        // this reload rereads the configuration too (SIGHUP)
  bool reload_again_config_ = false;
  std::optional<Config> reloaded_config_;  // from reload() on the pool, for adopt_reloaded_config()
  uv_fs_event_t served_watch_{};      // the served file's own change events
  std::uint64_t served_watch_generation_ = 0;
  std::uint64_t in_place_logged_generation_ = 0;
  std::optional<FileIdentity> in_place_tried_;  // the file at the path when last reloaded for that
  std::string watched_name_;          // [snapshot] watch: the file name in its directory
  uv_timer_t* watch_settle_ = nullptr;
  bool stop_requested_ = false;
  SystemdNotifier notifier_;          // the main thread's, and the start timeout extender's while it runs
  std::optional<ServiceWatchdog> watchdog_;  // WatchdogSec= asked for one
  // Written by reload() on the pool and read on the loop thread only while no reload
  // runs (uv_queue_work orders the two), like reloaded_config_.
  ServiceStatus status_;
  bool reload_announced_ = false;     // RELOADING=1 said, READY=1 not yet
};

}  // namespace

int run_daemon(DaemonOptions options) {
  log::set_level(options.config.log_level);
  // SQLite's memory statistics (sqlite3_memory_used(), unused here) take one global
  // mutex around every allocation and free, which the event loops' lookups and the
  // query-log writer then contend on (a futex call every few queries under load).
  // Process-wide, and only possible before SQLite's first use.
  (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  // A SIGHUP, SIGTERM or SIGINT during start-up (which can take seconds: a state schema
  // upgrade) must neither end the process with the default action nor be lost: held
  // pending here, in every thread the daemon starts, and taken by the control loop's
  // handlers once they run (control_loop unblocks them in the main thread only).
  block_control_signals(SIG_BLOCK);
  // From here on log lines are written by a thread of their own (it inherits the
  // blocked signals); the last ones, the start's failure included, are flushed when it
  // goes, for at most a few seconds.
  log::BackgroundLogWriter log_writer;
  try {
    Daemon daemon(std::move(options));
    return daemon.run();
  } catch (const std::exception& e) {
    log::error("start_failed").kv("error", e.what());
    // `systemctl status whoisd` shows why rather than the last step the start began.
    const auto* with_errno = dynamic_cast<const ErrnoError*>(&e);
    SystemdNotifier().start_failed(e.what(), with_errno ? with_errno->error() : 0);
    return 1;
  }
}

namespace {

// The files whoisd reads after it drops its privileges, checked for [server] user when
// the check runs as root (run as another user, opening the snapshot below checks it for
// that user, who a start by them would run as): the snapshot, opened after the drop and
// again at each reload; the directory it sits in, which the watch reads; and the
// configuration file, which SIGHUP rereads. A root-only file passes a start as root and
// fails later: the snapshot at once, the configuration at the first reload.
void check_files_for_daemon_user(const Config& config, const std::optional<std::string>& config_path) {
  if (geteuid() != 0) return;
  const std::string who = "user '" + config.server.user + "' ([server] user)";
  if (int err = access_as_daemon(config.server.user, config.snapshot_path, R_OK); err != 0)
    throw std::runtime_error("snapshot " + config.snapshot_path + " is not readable by " + who +
                             ", which opens it once whoisd has dropped root: " + std::strerror(err));
  if (config.snapshot_watch) {
    const std::string dir = snapshot_watch_directory(config.snapshot_path);
    if (int err = access_as_daemon(config.server.user, dir, R_OK | X_OK); err != 0)
      throw std::runtime_error("[snapshot] watch: the snapshot's directory " + dir + " is not readable by " + who +
                               ", which watches it for a new snapshot: " + std::strerror(err));
  }
  if (config_path)
    if (int err = access_as_daemon(config.server.user, *config_path, R_OK); err != 0)
      throw std::runtime_error("configuration file " + *config_path + " is not readable by " + who +
                               ": SIGHUP rereads it once whoisd has dropped root, and every reload would be "
                               "refused: " + std::strerror(err));
}

// The state directory as the daemon will find it: a directory (created at start when
// missing) that the user whoisd runs as may write, holding no state database the start
// would refuse. Returns the summary line; throws naming what is wrong.
std::string check_state_dir(const Config& config) {
  namespace fs = std::filesystem;
  const std::string& dir = config.state_dir;
  // As root the check asks as [server] user (access_as_daemon); otherwise as this user,
  // whom a start by this user would run as. Run by another user than [server] user (an
  // operator checking the file of a daemon that systemd starts as its own user), a
  // permission it lacks is reported, not failed: it says nothing of the daemon's.
  const std::string my_name = effective_user_name();
  const bool other_user = geteuid() != 0 && my_name != config.server.user;
  const std::string who = geteuid() == 0 ? "user '" + config.server.user + "' ([server] user)" : "user '" + my_name + "'";
  const auto denied = [&](const std::string& problem) -> std::string {
    if (!other_user) throw std::runtime_error(problem);
    return "state not checked for the daemon: " + problem + " (run this check as root or as user '" +
           config.server.user + "' to see the state directory as the daemon will)";
  };
  std::error_code ec;
  const fs::file_status status = fs::status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    throw std::runtime_error("[state] dir '" + dir + "': " + ec.message());
  if (!fs::exists(status) && fs::is_symlink(fs::symlink_status(dir, ec)))
    throw std::runtime_error("[state] dir '" + dir + "' is a symbolic link to nothing (" +
                             fs::read_symlink(dir, ec).string() + "): the start could not create it");
  if (!fs::exists(status)) {
    // Created at start: as root (then given to the user), or by the daemon's own user,
    // who must be able to write in the nearest existing parent. Either way the user must
    // reach it through that parent.
    fs::path parent = fs::path(dir).parent_path();
    while (!parent.empty() && !fs::exists(parent, ec)) parent = parent.parent_path();
    if (parent.empty()) parent = ".";
    const int mode = geteuid() == 0 ? X_OK : W_OK | X_OK;
    if (geteuid() == 0 && ::access(parent.c_str(), W_OK) != 0)  // root too: a read-only file system
      throw std::runtime_error("[state] dir '" + dir + "' does not exist, and cannot be created in '" +
                               parent.string() + "': " + std::strerror(errno));
    if (int err = access_as_daemon(config.server.user, parent.string(), mode); err != 0)
      return denied("[state] dir '" + dir + "' does not exist, and " + who + " cannot " +
                    (geteuid() == 0 ? "reach" : "create") + " it in '" + parent.string() + "': " + std::strerror(err));
    return "state ok: " + dir + " (created" + (geteuid() == 0 ? " for " + who : std::string()) + " at start)";
  }
  if (!fs::is_directory(status)) throw std::runtime_error("[state] dir '" + dir + "' is not a directory");
  if (int err = access_as_daemon(config.server.user, dir, W_OK | X_OK); err != 0)
    return denied("[state] dir '" + dir + "' is not writable by " + who + ": " + std::strerror(err));
  const std::string db_path = state_db_path(dir);
  if (!fs::exists(db_path, ec)) return "state ok: " + dir + " (no state yet)";
  if (int err = access_as_daemon(config.server.user, db_path, R_OK | W_OK); err != 0)
    return denied("state database " + db_path + " is not writable by " + who + ": " + std::strerror(err));
  // Throws naming a corrupt or foreign file, or one the start would refuse.
  const std::int64_t version = StateDb::open(db_path, StateDb::Mode::check).schema_version();
  if (version == 0) return "state ok: " + dir + " (" + db_path + " is empty; whoisd makes its schema when it starts)";
  if (version < kStateSchemaVersion)
    return "state ok: " + dir + " (" + db_path + " has state schema version " + std::to_string(version) +
           ", which whoisd upgrades to " + std::to_string(kStateSchemaVersion) + " when it starts)";
  return "state ok: " + dir + " (" + db_path + " opens)";
}

}  // namespace

int check_config(const Config& config, const std::optional<std::string>& config_path, ListenCheckView view) {
  try {
    // Started as root, whoisd switches to [server] user after binding: it must exist and not be root.
    if (geteuid() == 0) look_up_unprivileged_user(config.server.user);
    if (auto error = validate(limiter_config(config))) throw std::runtime_error(*error);
    check_files_for_daemon_user(config, config_path);
    SnapshotStore store(config.snapshot_path);
    store.open();
    SnapshotInfo info = store.info();
    std::printf("configuration ok: %s\n", describe(config).c_str());
    std::printf("snapshot ok: %s schema=%d domains=%lld bytes=%lld exported_at=%s\n", info.path.c_str(),
                info.schema_version, static_cast<long long>(info.domains), static_cast<long long>(info.file_bytes),
                log::iso8601_utc(info.exported_at).c_str());
    std::printf("%s\n", check_state_dir(config).c_str());
    // Sockets systemd passed to this process replace [server] listen, as at start; taken
    // the same way, so that a malformed LISTEN_FDS fails the check as it fails the start.
    const std::vector<ActivatedSocket> passed = take_activated_sockets();
    // Every address is reported, each failure on its own line, before the status says any failed.
    bool listen_ok = true;
    for (const auto& check : check_listen_addresses(config, passed, view)) {
      if (check.outcome == ListenCheck::Outcome::failed) {
        std::fflush(stdout);  // the lines in their order when both go to one terminal or file
        std::fprintf(stderr, "whoisd: %s\n", check.line.c_str());
        listen_ok = false;
      } else {
        std::printf("%s\n", check.line.c_str());
      }
    }
    return listen_ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "whoisd: %s\n", e.what());
    return 1;
  }
}

}  // namespace whoisd
