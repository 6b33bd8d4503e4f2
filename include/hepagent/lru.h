/* An intrusive least-recently-used list, shared by the bounded tables
 * (fragments, TCP streams, SCTP associations): the head is the entry to
 * expire or evict first. Entries embed an lru_node_t. */
#ifndef HEPAGENT_LRU_H
#define HEPAGENT_LRU_H

#include <stddef.h>

typedef struct lru_node {
    struct lru_node *prev, *next;
} lru_node_t;

typedef struct lru_list {
    lru_node_t *head, *tail;
} lru_list_t;

/* The entry of type `type` whose member `member` is node (NULL stays NULL). */
#define LRU_ENTRY(node, type, member)                                                              \
    ((node) ? (type *)(void *)((char *)(node)-offsetof(type, member)) : (type *)NULL)

static inline void lru_unlink(lru_list_t *l, lru_node_t *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        l->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->tail = n->prev;
    n->prev = n->next = NULL;
}

static inline void lru_append(lru_list_t *l, lru_node_t *n)
{
    n->prev = l->tail;
    n->next = NULL;
    if (l->tail)
        l->tail->next = n;
    else
        l->head = n;
    l->tail = n;
}

/* Marks n as just used. */
static inline void lru_touch(lru_list_t *l, lru_node_t *n)
{
    lru_unlink(l, n);
    lru_append(l, n);
}

#endif
