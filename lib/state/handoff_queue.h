// A hand-off from many producing threads to one consuming thread in which a producer
// never waits for anything: no mutex, no system call. The query log uses it so that an
// event loop hands its entries to the writer thread without ever waiting for that
// thread, which may then run at a low scheduling priority (a lower-priority thread
// preempted while holding a lock the loops need would stall them: priority inversion).
//
// Each producing thread gets a lane of its own the first time it pushes: a
// single-producer single-consumer queue of fixed-size blocks. The producer fills its
// block and publishes each item with one release store; when the block is full it
// links a new one (the consumer hands one emptied block back for reuse, so a steady
// flow allocates nothing). Items of one producer come out in the order it pushed them;
// the consumer visits the lanes in turn. The queue itself is unbounded: the caller
// bounds it (QueryLog counts its backlog and refuses beyond its capacity).
//
// close() makes every later push() fail and returns once no push is in progress, so
// that a drain after close() sees everything any push() reported as accepted.
//
// Use:
//   HandoffQueue<Entry> q;
//   any thread:        if (!q.push(std::move(e))) ...;     // false: closed, or out of memory
//   the one consumer:  std::vector<Entry> out; q.drain(out, 4096);
//   at the end:        q.close(); q.drain(out, SIZE_MAX);
// Lanes live as long as the queue (a thread that ends leaves its lane to the next thread
// that gets the same std::thread::id), so the consumer walks them without a lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <utility>
#include <vector>

namespace whoisd {

template <class T, std::size_t BlockItems = 256>
class HandoffQueue {
 public:
  HandoffQueue() : id_(next_queue_id()) {}
  ~HandoffQueue() {
    Lane* lane = lanes_.load(std::memory_order_acquire);
    while (lane) {
      Lane* next = lane->next_lane;
      delete lane;
      lane = next;
    }
  }
  HandoffQueue(const HandoffQueue&) = delete;
  HandoffQueue& operator=(const HandoffQueue&) = delete;

  // Any thread. Never waits. false when closed or when memory for a new lane or block
  // could not be had; the item is then left unmoved.
  bool push(T&& item) noexcept {
    Lane* lane = my_lane();
    if (!lane) return false;
    // With close(): either this push sees closed_, or close() sees busy and waits for
    // the push to finish (both sides sequentially consistent: a store-load handshake).
    lane->busy.store(true, std::memory_order_seq_cst);
    bool ok = !closed_.load(std::memory_order_seq_cst) && lane->push(std::move(item));
    lane->busy.store(false, std::memory_order_release);
    return ok;
  }

  // The consumer only. Moves up to max_items into out (appended), lane by lane; returns
  // how many.
  std::size_t drain(std::vector<T>& out, std::size_t max_items) {
    std::size_t taken = 0;
    for (Lane* lane = lanes_.load(std::memory_order_acquire); lane && taken < max_items; lane = lane->next_lane)
      taken += lane->drain(out, max_items - taken);
    return taken;
  }

  // Later pushes fail. Returns when no push is in progress any more (a producer inside
  // push() is a few instructions from its end, unless preempted: then this waits for it).
  void close() noexcept {
    closed_.store(true, std::memory_order_seq_cst);
    for (Lane* lane = lanes_.load(std::memory_order_seq_cst); lane; lane = lane->next_lane)
      while (lane->busy.load(std::memory_order_seq_cst)) std::this_thread::yield();
  }
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

 private:
  struct Block {
    T items[BlockItems];
    std::atomic<Block*> next{nullptr};
  };

  struct Lane {
    explicit Lane(std::thread::id who) : owner(who), tail(new Block), head(tail) {}
    ~Lane() {
      for (Block* b = head; b;) {
        Block* next = b->next.load(std::memory_order_acquire);
        delete b;
        b = next;
      }
      delete spare.load(std::memory_order_acquire);
    }

    bool push(T&& item) noexcept {
      if (tail_at == BlockItems) {
        Block* block = spare.exchange(nullptr, std::memory_order_acquire);
        if (!block) {
          block = new (std::nothrow) Block;
          if (!block) return false;
        }
        block->next.store(nullptr, std::memory_order_relaxed);
        tail->next.store(block, std::memory_order_release);
        tail = block;
        tail_at = 0;
      }
      tail->items[tail_at++] = std::move(item);
      pushed.store(pushed.load(std::memory_order_relaxed) + 1, std::memory_order_release);
      return true;
    }

    std::size_t drain(std::vector<T>& out, std::size_t max_items) {
      const std::uint64_t available = pushed.load(std::memory_order_acquire) - popped;
      const std::size_t n = available < max_items ? static_cast<std::size_t>(available) : max_items;
      for (std::size_t i = 0; i < n; ++i) {
        if (head_at == BlockItems) {
          // The producer linked the next block before it published the item in it.
          Block* next = head->next.load(std::memory_order_acquire);
          Block* done = head;
          head = next;
          head_at = 0;
          delete spare.exchange(done, std::memory_order_acq_rel);  // keep one for reuse
        }
        out.push_back(std::move(head->items[head_at]));  // may throw: then the item stays here
        ++head_at;
        ++popped;
      }
      return n;
    }

    const std::thread::id owner;
    Lane* next_lane = nullptr;  // set before the lane is published, never changed after
    // The producer's side.
    alignas(64) std::atomic<bool> busy{false};
    Block* tail;
    std::size_t tail_at = 0;
    std::atomic<std::uint64_t> pushed{0};
    // The consumer's side.
    alignas(64) Block* head;
    std::size_t head_at = 0;
    std::uint64_t popped = 0;
    std::atomic<Block*> spare{nullptr};
  };

  static std::uint64_t next_queue_id() {
    static std::atomic<std::uint64_t> ids{0};
    return ids.fetch_add(1, std::memory_order_relaxed) + 1;
  }

  // This thread's lane: remembered per thread for the queue it used last (a thread
  // normally feeds one queue), otherwise found or added to the list.
  Lane* my_lane() noexcept {
    struct Last {
      std::uint64_t queue = 0;
      void* lane = nullptr;
    };
    thread_local Last last;
    if (last.queue == id_) return static_cast<Lane*>(last.lane);
    const std::thread::id me = std::this_thread::get_id();
    Lane* head = lanes_.load(std::memory_order_acquire);
    for (Lane* lane = head; lane; lane = lane->next_lane)
      if (lane->owner == me) return remember(last, lane);
    Lane* lane = nullptr;
    try {
      lane = new Lane(me);
    } catch (...) {
      return nullptr;
    }
    lane->next_lane = head;
    while (!lanes_.compare_exchange_weak(lane->next_lane, lane, std::memory_order_seq_cst)) {
    }
    return remember(last, lane);
  }
  template <class Last>
  Lane* remember(Last& last, Lane* lane) noexcept {
    last.queue = id_;
    last.lane = lane;
    return lane;
  }

  const std::uint64_t id_;  // tells this queue from an earlier one at the same address
  std::atomic<Lane*> lanes_{nullptr};
  std::atomic<bool> closed_{false};
};

}  // namespace whoisd
