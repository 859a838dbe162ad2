// Convenience header: the whole C++ API.
#ifndef ALLEZON_ALLEZON_HPP_
#define ALLEZON_ALLEZON_HPP_

#include "allezon/aggregate_index.h"
#include "allezon/analytics.h"
#include "allezon/database.h"
#include "allezon/json.h"
#include "allezon/options.h"
#include "allezon/tag_lines.h"
#include "allezon/time.h"
#include "allezon/user_tag.h"
#include "allezon/user_tag_store.h"
#include "allezon/user_tag_view.h"
#include "allezon/version.h"

#endif  // ALLEZON_ALLEZON_HPP_
