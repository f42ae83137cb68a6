{# A run's checkpoints: at the end of the step a slot names, copy the group's variables into it. #}
{# USES_VARIABLES { t_in_timesteps, _n } #}
{% extends 'common_group.cpp' %}

{% block maincode %}
    const int64_t _steps_done = {{t_in_timesteps}} + 1;
    {% for k in range(slots) %}
    if ({{ get_array_name(variables['checkpoint_%d' % k]) }}[0] == _steps_done)
    {
        {% for name in stored %}
        {
            const auto * __restrict _from = {{ get_array_name(variables['_source_' + name]) }};
            auto * __restrict _to = {{ get_array_name(variables[name + '_%d' % k]) }};
            {{ openmp_pragma('parallel-static') }}
            for (int64_t _i = 0; _i < _n; _i++)
                _to[_i] = _from[_i];
        }
        {% endfor %}
    }
    {% endfor %}
{% endblock %}
