{# Weight-shared, event-driven convolution: source spikes -> target v.                        #}
{# Neurons are position-major, channel-minor; _kernel is [c][dy][dx][f], so one spike adds one #}
{# contiguous vector of output channels per reached output position. A step's input is summed #}
{# in fixed point (int32, grid 2^-input_shift) into _input, then added to v once per neuron:    #}
{# integer sums do not depend on their order (threads, scatter mode): see connections.py.      #}
{# An event of k spikes adding u units and costing e synaptic events (event_spaces: name, sign, k, u, e; a burst's #}
{# k spikes, a positive spike of a neuron with a finer negative grid n units each; e = k, or 1 for weighted       #}
{# spikes) adds u times the kernel and counts e events per target.                                                #}
{# A delay of d steps writes a step's input into slot (step + d) mod R of a ring of R = max_delay + 1 #}
{# input buffers and drains slot step mod R; with release < 1 each synapse transmits a spike when a #}
{# counter-based hash of (seed, connection, step, source, target) falls below release * 2^32.       #}
{# delay, release and release_gain (1 / release, folded into the fixed-point kernel) hold one value #}
{# per output channel; equal in every channel (a layer's one value), the fast paths run.            #}
{# USES_VARIABLES { _spikespace, _target_v, _kernel, scale, scale_early, switch_step, t_in_timesteps, synaptic_events, _row_count, _row_pairs,
                    _col_count, _col_pairs, _C, _H, _W, _F, _OH, _OW, _K, _S, _P, input_shift, _kernel_fixed, _kernel_phase, _input,
                    delay, release, release_gain, seed, _slot_events, _R, _connection_id, _channel_slot } #}
{% extends 'common_group.cpp' %}

{% block maincode %}
    {% set v_type = c_data_type(variables['_target_v'].dtype) %}
    {% set w_type = c_data_type(variables['_kernel'].dtype) %}
    int64_t _events_this_step = 0;
    int64_t _events_in_v = 0;  // events a gather without delays added to v directly (not through _input)
    const int64_t _step = {{t_in_timesteps}};  // this step's number (0-based), as the sources' thresholds saw it
    const int32_t _shift = {{input_shift}}[0];
    const int64_t _n_target = (int64_t)_OH * _OW * _F;
    auto _delay_of = [&](int _f) -> int32_t
    {
        return {{delay}}[_f] < 0 ? 0 : ({{delay}}[_f] >= _R ? _R - 1 : {{delay}}[_f]);
    };
    const int32_t _d = _delay_of(0);
    const int64_t _write_slot = (_step + _d) % _R;
    int32_t * __restrict _input_ring = {{_input}} + _write_slot * _n_target;
    // stochastic release: a synapse transmits when the top 32 bits of its hash fall below release * 2^32
    bool _every_spike = true, _one_delay = true;
    for (int _f = 0; _f < _F; _f++)
    {
        _every_spike = _every_spike && (double){{release}}[_f] >= 1.0;
        _one_delay = _one_delay && _delay_of(_f) == _d;
    }
    if (!_one_delay)  // per output channel: the offset of its ring slot, less this step's slot's
        for (int _f = 0; _f < _F; _f++)
            {{_channel_slot}}[_f] = (((_step + _delay_of(_f)) % _R) - _write_slot) * _n_target;
    auto _mix = [](uint64_t _z) -> uint64_t
    {
        // splitmix64's finalizer
        _z += 0x9E3779B97F4A7C15ULL;
        _z = (_z ^ (_z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        _z = (_z ^ (_z >> 27)) * 0x94D049BB133111EBULL;
        return _z ^ (_z >> 31);
    };
    const uint64_t _key = _mix(_mix(((uint64_t)(int64_t){{seed}}[0] << 32) ^ (uint64_t)(uint32_t)_connection_id)
                               + (uint64_t)_step);
    {
        // A channel's fixed-point kernel slice: its kernel times what one of its spikes stands for
        // (its source's threshold; before switch_step the early one), rounded once to the grid.
        // Made at the first step and again when the channel's value changes phase.
        const double _unit = std::ldexp(1.0, _shift);
        const int64_t _slice = (int64_t)_K * _K * _F;
        for (int _c = 0; _c < _C; _c++)
        {
            const int32_t _phase = _step < {{switch_step}}[_c] ? 1 : 2;
            if ({{_kernel_phase}}[_c] == _phase)
                continue;
            const double _value = _phase == 1 ? (double){{scale_early}}[_c] : (double){{scale}}[_c];
            const {{w_type}} * __restrict _w = {{_kernel}} + _c * _slice;
            int32_t * __restrict _fixed = {{_kernel_fixed}} + _c * _slice;
            for (int64_t _j = 0; _j < _slice; _j++)
                _fixed[_j] = (int32_t)std::nearbyint((double)_w[_j] * _value * (double){{release_gain}}[_j % _F] * _unit);
            {% if scatter == 'tiles' %}
            // the same values tile-major, [tile][c][dy][dx][TILE channels] (the last tile's missing channels 0):
            // a tile reads its part of the kernel front to back
            for (int64_t _j = 0; _j < _slice; _j++)
            {
                const int64_t _f = _j % _F, _offset = _j / _F;
                {{_kernel_tiles}}[(((_f / {{ tile_channels }}) * _C + _c) * _K * _K + _offset) * {{ tile_channels }}
                                  + _f % {{ tile_channels }}] = _fixed[_j];
            }
            {% endif %}
            {{_kernel_phase}}[_c] = _phase;
        }
    }
    {% for name, sign, spikes, units, cost in event_spaces %}
    {% set space = get_array_name(variables[name]) %}
    {
        const int32_t * __restrict _spikes = {{space}};
        const int32_t _n_spikes = _spikes[_num_spikespace - 1];
        // Scatter spikes _list[_first.._last) onto output channels [_f0, _f1) of the target.
        auto _scatter = [&](const int32_t * __restrict _list, int32_t _first, int32_t _last,
                            int _f0, int _f1) -> int64_t
        {
            int64_t _n_events = 0, _n_released = 0;
            for (int32_t _s = _first; _s < _last; _s++)
            {
                const int32_t _pre = _list[_s];
                const int _c = _pre % _C;
                const int _position = _pre / _C;
                const int _y = _position / _W;
                const int _x = _position % _W;
                // lookup tables: (kernel offset, output position) pairs per input row / column
                const int32_t * _rows = {{_row_pairs}} + 2 * _K * _y;
                const int32_t * _cols = {{_col_pairs}} + 2 * _K * _x;
                const int _n_rows = {{_row_count}}[_y];
                const int _n_cols = {{_col_count}}[_x];
                for (int _r = 0; _r < _n_rows; _r++)
                {
                    const int _dy = _rows[2 * _r], _oy = _rows[2 * _r + 1];
                    for (int _q = 0; _q < _n_cols; _q++)
                    {
                        const int _dx = _cols[2 * _q], _ox = _cols[2 * _q + 1];
                        const int64_t _post_index = ((int64_t)_oy * _OW + _ox) * _F;
                        int32_t * __restrict _post = _input_ring + _post_index;
                        const int32_t * __restrict _w = {{_kernel_fixed}} + (((int64_t)_c * _K + _dy) * _K + _dx) * _F;
                        if (_every_spike && _one_delay)
                        {
                            for (int _f = _f0; _f < _f1; _f++)
                                _post[_f] {{ sign }}= {{ '%d * ' % units if units > 1 else '' }}_w[_f];
                        }
                        else
                        {
                            const uint64_t _pre_key = _key + (uint64_t)_pre * 0xD6E8FEB86659FD93ULL;
                            for (int _f = _f0; _f < _f1; _f++)
                            {
                                if (!_every_spike && (double){{release}}[_f] < 1.0)
                                {
                                    const uint64_t _h = _mix(_pre_key + (uint64_t)(_post_index + _f) * 0xA0761D6478BD642FULL);
                                    if ((_h >> 32) >= (uint64_t)((double){{release}}[_f] * 4294967296.0))
                                        continue;
                                }
                                _post[_f + (_one_delay ? 0 : {{_channel_slot}}[_f])] {{ sign }}= {{ '%d * ' % units if units > 1 else '' }}_w[_f];
                                _n_released += {{ cost }};
                            }
                        }
                    }
                }
                _n_events += (int64_t)_n_rows * _n_cols * (_f1 - _f0) * {{ cost }};
            }
            return _every_spike && _one_delay ? _n_events : _n_released;
        };
        {% if scatter in ('gather', 'tiles') %}
        // gathered below, after every event space (stochastic release or per-channel delays: scattered here)
        if (!(_every_spike && _one_delay))
            _events_this_step += _scatter(_spikes, 0, _n_spikes, 0, _F);
        {% else %}
        {% if scatter != 'rows' %}
        // Stable counting sort of spikes [_first, _last) by input channel into the same range of
        // _sorted, with C + 1 counters of scratch: each channel's kernel slice is then read once.
        auto _sort_by_channel = [&](int32_t _first, int32_t _last, int32_t * __restrict _start)
        {
            for (int _c = 0; _c <= _C; _c++) _start[_c] = 0;
            for (int32_t _s = _first; _s < _last; _s++) _start[_spikes[_s] % _C + 1]++;
            _start[0] = _first;
            for (int _c = 0; _c < _C; _c++) _start[_c + 1] += _start[_c];
            for (int32_t _s = _first; _s < _last; _s++) {{_sorted}}[_start[_spikes[_s] % _C]++] = _spikes[_s];
        };
        {% endif %}
        {% if scatter == 'channels' %}
        // All spikes grouped by channel; OpenMP threads split the output channels.
        _sort_by_channel(0, _n_spikes, {{_channel_start}});
        {% if openmp_pragma('with_openmp') %}
        const int _n_parts = {{ openmp_pragma('get_num_threads') }};
        int64_t _parallel_events = 0;
        #pragma omp parallel for schedule(static) reduction(+:_parallel_events)
        for (int _part = 0; _part < _n_parts; _part++)
            _parallel_events += _scatter({{_sorted}}, 0, _n_spikes, (int)(((int64_t)_F * _part) / _n_parts),
                                         (int)(((int64_t)_F * (_part + 1)) / _n_parts));
        _events_this_step += _parallel_events;
        {% else %}
        _events_this_step += _scatter({{_sorted}}, 0, _n_spikes, 0, _F);
        {% endif %}
        {% else %}
        // Spikes are sorted by neuron index, hence by input row. Thread t takes the spikes of one
        // band of rows; the spikes of a band's last rows, whose outputs the next band's spikes may
        // also reach, are deferred to a serial pass: no two threads write the same neuron.
        // (Without OpenMP: one band, nothing deferred.)
        const int _n_bands = {{ openmp_pragma('get_num_threads') }} < {{max_bands}} ? {{ openmp_pragma('get_num_threads') }} : {{max_bands}};
        int32_t _band_start[{{max_bands}} + 1], _band_defer[{{max_bands}}];
        _band_start[0] = 0;
        _band_start[_n_bands] = _n_spikes;
        for (int _b = 1; _b < _n_bands; _b++)
        {
            // balance spike counts, then move the cut to the start of a row
            int32_t _cut = (int32_t)(((int64_t)_n_spikes * _b) / _n_bands);
            if (_cut < _band_start[_b - 1]) _cut = _band_start[_b - 1];
            if (_cut < _n_spikes)
            {
                const int _row = (_spikes[_cut] / _C) / _W;
                while (_cut > _band_start[_b - 1] && (_spikes[_cut - 1] / _C) / _W == _row) _cut--;
            }
            _band_start[_b] = _cut;
        }
        for (int _b = 0; _b < _n_bands; _b++)
        {
            _band_defer[_b] = _band_start[_b + 1];
            if (_b + 1 < _n_bands && _band_start[_b + 1] < _n_spikes)
            {
                // first output row the next band can reach, and the first input row reaching it
                const int _next_row = (_spikes[_band_start[_b + 1]] / _C) / _W;
                const int _lowest_out = {{_row_count}}[_next_row] > 0 ?
                    {{_row_pairs}}[2 * _K * _next_row + 2 * ({{_row_count}}[_next_row] - 1) + 1] : 0;
                const int _first_conflict_row = _lowest_out * _S - _P;
                int32_t _d = _band_start[_b + 1];
                while (_d > _band_start[_b] && (_spikes[_d - 1] / _C) / _W >= _first_conflict_row) _d--;
                _band_defer[_b] = _d;
            }
        }
        int64_t _parallel_events = 0;
        {% if openmp_pragma('with_openmp') %}
        #pragma omp parallel for schedule(static) reduction(+:_parallel_events)
        {% endif %}
        for (int _b = 0; _b < _n_bands; _b++)
        {
            {% if scatter == 'row_channels' %}
            // the band's spikes grouped by channel, in the band's own part of _sorted
            _sort_by_channel(_band_start[_b], _band_defer[_b], {{_channel_start}} + _b * (_C + 1));
            _parallel_events += _scatter({{_sorted}}, _band_start[_b], _band_defer[_b], 0, _F);
            {% else %}
            _parallel_events += _scatter(_spikes, _band_start[_b], _band_defer[_b], 0, _F);
            {% endif %}
        }
        _events_this_step += _parallel_events;
        for (int _b = 0; _b < _n_bands; _b++)
            _events_this_step += _scatter(_spikes, _band_defer[_b], _band_start[_b + 1], 0, _F);
        {% endif %}
        {% endif %}
    }
    {% endfor %}
    {% if scatter in ('gather', 'tiles') %}
    if (_every_spike && _one_delay)
    {
        // Output-stationary: each output neuron's step input summed in a local accumulator over the spikes
        // of its window (every event space, with its sign), then added to _input once; without delays
        // (one slot) added to v at once, as the drain below would add it (v += input * 2^-shift). Spike lists are
        // sorted by neuron index, hence by input position: per event space, the first spike of each input
        // position. Threads take (block of output channels, output row) tasks: no two write one neuron,
        // and a thread's consecutive tasks read the same block of the kernel. The same integer sums as
        // the scatter, the same count of events.
        const int64_t _n_positions = (int64_t)_H * _W;
        {% for name, sign, spikes, units, cost in event_spaces %}
        {% set space = get_array_name(variables[name]) %}
        const int32_t * __restrict _spikes{{ loop.index0 }} = {{space}};
        int32_t * __restrict _starts{{ loop.index0 }} = {{_position_start}} + {{ loop.index0 }} * (_n_positions + 1);
        {
            const int32_t _n = _spikes{{ loop.index0 }}[_num_spikespace - 1];
            int32_t _s = 0;
            for (int64_t _p = 0; _p <= _n_positions; _p++)
            {
                while (_s < _n && _spikes{{ loop.index0 }}[_s] / _C < _p) _s++;
                _starts{{ loop.index0 }}[_p] = _s;
            }
            for (int64_t _p = 0; _p < _n_positions; _p++)
                _events_this_step += (int64_t)(_starts{{ loop.index0 }}[_p + 1] - _starts{{ loop.index0 }}[_p])
                    * {{_row_count}}[_p / _W] * {{_col_count}}[_p % _W] * _F * {{ cost }};
        }
        {% endfor %}
        if (_R == 1)
            _events_in_v = _events_this_step;  // every event of this step (the scatter above ran for none)
        const {{v_type}} _grid = ({{v_type}})std::ldexp(1.0, -_shift);
        {% if scatter == 'tiles' %}
        // Tiles (stride 1, pad below the kernel size): a thread takes a tile of up to TILE output channels in a band
        // of output rows (a small map: all of its rows). Its accumulator (one int32 per tile channel and padded
        // position: the band's rows and K - 1 more above and below, the map's columns and K - 1 more) stays in the
        // core's cache. Input channel by input channel and kernel offset, it loads the tile's kernel values once and
        // adds them at every position that a spike of that channel (in the band's input rows) reaches from there: a
        // spike at (y, x) adds w[c][dy][dx] at padded position (y - (oy0 - P) + K - 1 - dy, x + K - 1 - dx), output
        // (oy, ox) of the band starting at oy0 being padded (oy - oy0 + K - 1, ox + K - 1 - P). The kernel is kept
        // tile by tile, read front to back. Then, as the gather, each output neuron whose window holds a spike adds
        // its sum once.
        const int _TILE = {{ tile_channels }};
        const int _band_rows = {{ tile_rows }};
        const int _n_bands = (_OH + _band_rows - 1) / _band_rows;
        const int _AW = _W + _K - 1;
        const int64_t _n_padded = (int64_t)(_band_rows + 2 * (_K - 1)) * _AW;
        auto _band_inputs = [&](int _b, int & _oy0, int & _oy1, int & _lo, int & _hi)
        {
            // the band's output rows [_oy0, _oy1) and the input rows [_lo, _hi) that reach them
            _oy0 = _b * _band_rows;
            _oy1 = _oy0 + _band_rows < _OH ? _oy0 + _band_rows : _OH;
            _lo = _oy0 - _P > 0 ? _oy0 - _P : 0;
            _hi = _oy1 + _K - 1 - _P < _H ? _oy1 + _K - 1 - _P : _H;
        };
        // per band and event space: the band's spikes by input channel (a stable counting sort), as padded
        // positions, in the band's part of _sorted (_band_offset: its input rows times W times C, per space)
        {{ openmp_pragma('parallel-static') }}
        for (int _b = 0; _b < _n_bands; _b++)
        {
            int _oy0, _oy1, _lo, _hi;
            _band_inputs(_b, _oy0, _oy1, _lo, _hi);
            {% for name, sign, spikes, units, cost in event_spaces %}
            {
                int32_t * __restrict _list = {{_sorted}} + (int64_t){{ loop.index0 }} * {{_band_offset}}[_n_bands]
                                             + {{_band_offset}}[_b];
                int32_t * __restrict _next = {{_channel_start}} + ((int64_t)_b * {{ event_spaces|length }} + {{ loop.index0 }}) * (_C + 1);
                const int32_t _first = _starts{{ loop.index0 }}[(int64_t)_lo * _W];
                const int32_t _last = _starts{{ loop.index0 }}[(int64_t)_hi * _W];
                for (int _c = 0; _c <= _C; _c++) _next[_c] = 0;
                for (int32_t _s = _first; _s < _last; _s++) _next[_spikes{{ loop.index0 }}[_s] % _C + 1]++;
                for (int _c = 0; _c < _C; _c++) _next[_c + 1] += _next[_c];
                for (int32_t _s = _first; _s < _last; _s++)
                {
                    const int32_t _pre = _spikes{{ loop.index0 }}[_s];
                    const int32_t _position = _pre / _C;
                    _list[_next[_pre % _C]++] = (_position / _W - (_oy0 - _P) + _K - 1) * _AW + _position % _W + _K - 1;
                }
                for (int _c = _C; _c > 0; _c--) _next[_c] = _next[_c - 1];  // back to each channel's first
                _next[0] = 0;
            }
            {% endfor %}
        }
        // output positions whose window holds a spike (of any event space): only these are written, as the gather does
        {{ openmp_pragma('parallel-static') }}
        for (int64_t _o = 0; _o < (int64_t)_OH * _OW; _o++)
        {
            const int _oy = (int)(_o / _OW), _ox = (int)(_o % _OW);
            int32_t _any = 0;
            for (int _dy = 0; _dy < _K; _dy++)
            {
                const int _iy = _oy - _P + _dy;
                if (_iy < 0 || _iy >= _H) continue;
                for (int _dx = 0; _dx < _K; _dx++)
                {
                    const int _ix = _ox - _P + _dx;
                    if (_ix < 0 || _ix >= _W) continue;
                    const int64_t _p = (int64_t)_iy * _W + _ix;
                    {% for name, sign, spikes, units, cost in event_spaces %}
                    _any |= _starts{{ loop.index0 }}[_p + 1] - _starts{{ loop.index0 }}[_p];
                    {% endfor %}
                }
            }
            {{_touched}}[_o] = _any != 0;
        }
        const int _n_tiles = (_F + _TILE - 1) / _TILE;
        // (tile-major: a thread's consecutive tasks read the same part of the kernel)
        {{ openmp_pragma('parallel-static') }}
        for (int64_t _task = 0; _task < (int64_t)_n_tiles * _n_bands; _task++)
        {
            const int _tile = (int)(_task / _n_bands), _b = (int)(_task % _n_bands);
            const int _f0 = _tile * _TILE;
            const int _nf = _F - _f0 < _TILE ? _F - _f0 : _TILE;
            int _oy0, _oy1, _lo, _hi;
            _band_inputs(_b, _oy0, _oy1, _lo, _hi);
            // (64-byte aligned: a tile of 16 int32 is one cache line)
            const size_t _bytes = ((size_t)_n_padded * _TILE * sizeof(int32_t) + 63) / 64 * 64;
            int32_t * __restrict _acc = static_cast<int32_t *>(std::aligned_alloc(64, _bytes));
            std::memset(_acc, 0, _bytes);
            {% for name, sign, spikes, units, cost in event_spaces %}
            {
                const int32_t * __restrict _list = {{_sorted}} + (int64_t){{ loop.index0 }} * {{_band_offset}}[_n_bands]
                                                   + {{_band_offset}}[_b];
                const int32_t * __restrict _first_of = {{_channel_start}} + ((int64_t)_b * {{ event_spaces|length }} + {{ loop.index0 }}) * (_C + 1);
                for (int _c = 0; _c < _C; _c++)
                {
                    const int32_t _first = _first_of[_c], _last = _first_of[_c + 1];
                    if (_first == _last) continue;
                    for (int _dy = 0; _dy < _K; _dy++)
                        for (int _dx = 0; _dx < _K; _dx++)
                        {
                            const int32_t * __restrict _w = {{_kernel_tiles}}
                                + ((((int64_t)_tile * _C + _c) * _K + _dy) * _K + _dx) * _TILE;
                            const int _shift_back = _dy * _AW + _dx;
                            _brainyolo_tile _wv;  // the tile's kernel values in one vector register
                            std::memcpy(&_wv, _w, sizeof(_wv));
                            for (int32_t _s = _first; _s < _last; _s++)
                            {
                                int32_t * _a = _acc + (int64_t)(_list[_s] - _shift_back) * _TILE;
                                _brainyolo_tile _x;
                                std::memcpy(&_x, _a, sizeof(_x));
                                _x {{ sign }}= {{ '%d * ' % units if units > 1 else '' }}_wv;
                                std::memcpy(_a, &_x, sizeof(_x));
                            }
                        }
                }
            }
            {% endfor %}
            for (int _oy = _oy0; _oy < _oy1; _oy++)
                for (int _ox = 0; _ox < _OW; _ox++)
                {
                    const int64_t _o = (int64_t)_oy * _OW + _ox;
                    if (!{{_touched}}[_o]) continue;
                    const int32_t * __restrict _a = _acc + ((int64_t)(_oy - _oy0 + _K - 1) * _AW + _ox + _K - 1 - _P) * _TILE;
                    if (_R == 1)
                    {
                        {{v_type}} * __restrict _v = {{_target_v}} + _o * _F + _f0;
                        for (int _j = 0; _j < _nf; _j++) _v[_j] += ({{v_type}})_a[_j] * _grid;
                    }
                    else
                    {
                        int32_t * __restrict _post = _input_ring + _o * _F + _f0;
                        for (int _j = 0; _j < _nf; _j++) _post[_j] += _a[_j];
                    }
                }
            std::free(_acc);
        }
        {% else %}
        const int _block = {{ gather_block }};
        const int _n_blocks = (_F + _block - 1) / _block;
        {{ openmp_pragma('parallel-static') }}
        for (int64_t _task = 0; _task < (int64_t)_n_blocks * _OH; _task++)
        {
            const int _f0 = (int)(_task / _OH) * _block;
            const int _oy = (int)(_task % _OH);
            const int _nf = _F - _f0 < _block ? _F - _f0 : _block;
            int32_t _acc[{{ gather_block }}];
            for (int _ox = 0; _ox < _OW; _ox++)
            {
                bool _touched = false;
                for (int _j = 0; _j < _block; _j++) _acc[_j] = 0;
                for (int _dy = 0; _dy < _K; _dy++)
                {
                    const int _iy = _oy * _S - _P + _dy;
                    if (_iy < 0 || _iy >= _H) continue;
                    for (int _dx = 0; _dx < _K; _dx++)
                    {
                        const int _ix = _ox * _S - _P + _dx;
                        if (_ix < 0 || _ix >= _W) continue;
                        const int64_t _p = (int64_t)_iy * _W + _ix;
                        const int32_t * __restrict _w0 = {{_kernel_fixed}} + ((int64_t)_dy * _K + _dx) * _F + _f0;
                        {% for name, sign, spikes, units, cost in event_spaces %}
                        for (int32_t _s = _starts{{ loop.index0 }}[_p]; _s < _starts{{ loop.index0 }}[_p + 1]; _s++)
                        {
                            const int64_t _c = _spikes{{ loop.index0 }}[_s] - _p * _C;
                            const int32_t * __restrict _w = _w0 + _c * _K * _K * _F;
                            _touched = true;
                            if (_nf == _block)
                                for (int _j = 0; _j < _block; _j++) _acc[_j] {{ sign }}= {{ '%d * ' % units if units > 1 else '' }}_w[_j];
                            else
                                for (int _j = 0; _j < _nf; _j++) _acc[_j] {{ sign }}= {{ '%d * ' % units if units > 1 else '' }}_w[_j];
                        }
                        {% endfor %}
                    }
                }
                if (_touched && _R == 1)
                {
                    {{v_type}} * __restrict _v = {{_target_v}} + ((int64_t)_oy * _OW + _ox) * _F + _f0;
                    for (int _j = 0; _j < _nf; _j++) _v[_j] += ({{v_type}})_acc[_j] * _grid;
                }
                else if (_touched)
                {
                    int32_t * __restrict _post = _input_ring + ((int64_t)_oy * _OW + _ox) * _F + _f0;
                    for (int _j = 0; _j < _nf; _j++) _post[_j] += _acc[_j];
                }
            }
        }
        {% endif %}
    }
    {% endif %}
    {{_slot_events}}[_write_slot] += _events_this_step - _events_in_v;
    if (!_one_delay)  // (a flag per slot: the slots this step's input may reach are drained when due)
        for (int _f = 0; _f < _F; _f++)
            {{_slot_events}}[(_step + _delay_of(_f)) % _R] += _events_this_step;
    const int64_t _read_slot = _step % _R;
    if ({{_slot_events}}[_read_slot] > 0)
    {
        // the input due now, once per neuron in a fixed order: v += _input * 2^-shift; _input = 0
        const {{v_type}} _grid = ({{v_type}})std::ldexp(1.0, -_shift);
        int32_t * __restrict _due = {{_input}} + _read_slot * _n_target;
        {{ openmp_pragma('parallel-static') }}
        for (int64_t _i = 0; _i < _n_target; _i++)
        {
            {{_target_v}}[_i] += ({{v_type}})_due[_i] * _grid;
            _due[_i] = 0;
        }
        {{_slot_events}}[_read_slot] = 0;
    }
    {{synaptic_events}}[0] += _events_this_step;
{% endblock %}

{% block extra_headers %}
#include <cstdlib>
#include <cstring>
{% if scatter == 'tiles' %}
#if defined(__GNUC__) || defined(__clang__)
// TILE int32 as one vector (GCC and Clang vector extensions: one AVX-512 register, two AVX2 ones, ...)
typedef int32_t _brainyolo_tile __attribute__((vector_size({{ 4 * tile_channels }})));
#else
struct _brainyolo_tile
{
    int32_t _x[{{ tile_channels }}];
    _brainyolo_tile & operator+=(const _brainyolo_tile & _o) { for (int _j = 0; _j < {{ tile_channels }}; _j++) _x[_j] += _o._x[_j]; return *this; }
    _brainyolo_tile & operator-=(const _brainyolo_tile & _o) { for (int _j = 0; _j < {{ tile_channels }}; _j++) _x[_j] -= _o._x[_j]; return *this; }
    friend _brainyolo_tile operator*(int32_t _k, _brainyolo_tile _o) { for (int _j = 0; _j < {{ tile_channels }}; _j++) _o._x[_j] *= _k; return _o; }
};
#endif
{% endif %}
{% endblock %}
